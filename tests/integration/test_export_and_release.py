"""From a clean checkout: train the tiny model, export it, answer with DIFFA2 and with the command line.

Also: the tiny model written in the DIFFA-2 release naming converts back into a model folder that
holds the same tensors and answers the same; the converter refuses unknown and missing keys.
"""

import json
import os
import subprocess
import sys

import pytest
import torch
from hyperpyyaml import load_hyperpyyaml

from speechbrain_diffa.demo.tiny_corpus import make_tiny_corpus, tiny_recipe_overrides
from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
from speechbrain_diffa.hub.export import TINY_VALUES, export_recipe, export_release
from speechbrain_diffa.hub.release_weights import convert_released_state, to_released_state
from speechbrain_diffa.inference import DIFFA2
from speechbrain_diffa.sampling import EOS_STOP_DECODING, FAST_DECODING, REFERENCE_DECODING

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RECIPE = os.path.join(ROOT, "recipes", "DIFFA2")
QUESTION = "Is the tone high or low?"


def environment():
    """Offline, one thread, this checkout first on the path."""
    path = os.pathsep.join([os.path.abspath(ROOT), os.environ.get("PYTHONPATH", "")])
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=path)


def call(command, cwd=ROOT):
    """Run a command; its stdout (fails with its output's end)."""
    done = subprocess.run(command, cwd=cwd, env=environment(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    return done.stdout


def train_stage3(tiny_root, tmp_path):
    """A few steps of recipes/DIFFA2 stage 3 on the tiny model (lr high enough to move LoRA)."""
    corpus = make_tiny_corpus(str(tmp_path / "corpus"), num_train=4, num_valid=1)
    out = str(tmp_path / "stage3")
    overrides = dict(
        tiny_recipe_overrides(tiny_root, corpus, out),
        previous_stage="",  # stage 3 from fresh adapters
        number_of_epochs=1,
        batch_size=2,
        lr=0.01,
        warmup_steps=1,
        valid_decode_examples=0,
        replay_manifest="",
    )
    args = [f"--{k}={json.dumps(v) if isinstance(v, (list, dict)) else v}" for k, v in overrides.items()]
    call([sys.executable, "train.py", "hparams/stage3_sft.yaml", *args], cwd=RECIPE)
    return out


def recipe_model(out):
    """The recipe's own model, built in-process from its saved hyperparams and trained tensors."""
    with open(os.path.join(out, "hyperparams.yaml"), encoding="utf-8") as f:
        hparams = load_hyperpyyaml(f)
    model = hparams["diffa"]
    model.load_trainable(os.path.join(out, "diffa2_trained.ckpt"))
    return model.eval()


@pytest.mark.slow
def test_trained_exported_model_answers_like_the_recipe_model(tiny_root, tmp_path):
    """Recipe model == DIFFA2.from_hparams(export) == diffa2 answer, on the exported example clip."""
    out = train_stage3(tiny_root, tmp_path)
    trained = torch.load(os.path.join(out, "diffa2_trained.ckpt"), weights_only=True)
    assert any(float(v.abs().max()) > 0 for k, v in trained.items() if "lora_B" in k), "LoRA did not train"

    folder = export_recipe(out, str(tmp_path / "model"))
    assert sorted(os.listdir(folder)) == ["README.md", "diffa2.ckpt", "example.wav", "hyperparams.yaml"]
    card = open(os.path.join(folder, "README.md"), encoding="utf-8").read()
    assert "stage 3" in card and "sft_train.json" in card
    assert "the `answer` preset (steps=16, gen_length=16, block_length=16, eos_early_stop=True)" in card

    example = os.path.join(folder, "example.wav")
    reference = recipe_model(out)
    from speechbrain_diffa.data.audio import load_audio

    wav = load_audio(example)[None]
    expected = reference.answer(wav, torch.ones(1), [QUESTION], **EOS_STOP_DECODING)[0]  # the interface default
    hub = DIFFA2.from_hparams(source=folder)
    assert hub.answer_file(example, QUESTION) == expected
    slow = reference.answer(wav, torch.ones(1), [QUESTION], **REFERENCE_DECODING)[0]  # the reference sampler
    assert hub.answer_file(example, QUESTION, **REFERENCE_DECODING) == slow
    for name, value in reference.trainable_state_dict().items():
        assert torch.equal(dict(hub.model.named_parameters())[name], value), name

    line = call(
        [
            sys.executable,
            "-m",
            "speechbrain_diffa.cli",
            "answer",
            "--model",
            folder,
            example,
            "--question",
            QUESTION,
            "--json",
        ]
    )
    assert json.loads(line)["answer"] == expected
    line = call(
        [
            sys.executable,
            "-m",
            "speechbrain_diffa.cli",
            "answer",
            "--model",
            folder,
            example,
            "--question",
            QUESTION,
            "--json",
            "--reference",
        ]
    )
    assert json.loads(line)["answer"] == slow


@pytest.fixture
def source_model(tiny_root):
    """A tiny stage-3 model with trained-looking (non-zero) LoRA and adapters."""
    model = make_tiny_diffa2(tiny_root, stage=3, seed=3)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return model.eval()


@pytest.mark.parametrize("file_name", ["pytorch_model.bin", "model.safetensors"])
def test_converted_release_is_the_model_it_was_made_from(source_model, tiny_root, tmp_path, file_name):
    """Release naming -> model folder: every key accounted for, same tensors, same answers."""
    release = to_released_state(source_model)
    path = str(tmp_path / file_name)
    if file_name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in release.items()}, path)
    else:
        torch.save(release, path)
    like = dict(TINY_VALUES, whisper_path=os.path.join(tiny_root, "whisper"), llm_path=os.path.join(tiny_root, "llada"))
    report = export_release(path, str(tmp_path / "model"), like=like, lora_dropout=0.05)

    n_layers = source_model.llm.llada_config["n_layers"]
    assert report["lora"] == {
        "rank": 8,
        "targets": ["q_proj", "k_proj", "v_proj", "ff_proj", "up_proj"],
        "tensors": 2 * 5 * n_layers,
    }
    assert report["frozen_llada"] == 3 + 9 * n_layers
    assert report["frozen_whisper"] == len(source_model.encoder.encoder.state_dict())
    counted = sum(report[k] for k in ("semantic", "acoustic", "prompts", "frozen_llada", "frozen_whisper"))
    assert counted + report["lora"]["tensors"] == len(release)  # every key used or skipped-as-frozen

    hub = DIFFA2.from_hparams(source=str(tmp_path / "model"))
    loaded = dict(hub.model.named_parameters())
    for name, value in source_model.named_parameters():
        assert torch.equal(loaded[name], value), name
    wav = torch.sin(torch.arange(16000) / 3.0)[None] * 0.3
    short = {"steps": 8, "gen_length": 8, "block_length": 8}
    for options in (REFERENCE_DECODING, FAST_DECODING):
        assert hub.answer_batch(wav, torch.ones(1), [QUESTION], **short, **options) == source_model.answer(
            wav, torch.ones(1), [QUESTION], **short, **options
        )


def test_the_converter_is_strict(source_model):
    """Unknown keys are listed; a missing LoRA matrix or adapter tensor is an error."""
    release = to_released_state(source_model)
    with pytest.raises(KeyError, match="neither trained weights nor known frozen weights.*mystery.weight"):
        convert_released_state(dict(release, **{"mystery.weight": torch.zeros(1)}))
    lora_b = "llm_model.base_model.model.model.transformer.blocks.1.up_proj.lora_B.default.weight"
    with pytest.raises(KeyError, match="LoRA is incomplete.*blocks.1.up_proj.lora_B"):
        convert_released_state({k: v for k, v in release.items() if k != lora_b})
    from speechbrain_diffa.hub.export import check_released_adapters

    with pytest.raises(KeyError, match="semantic_connector.layernorm.bias"):
        check_released_adapters(
            {k: v for k, v in release.items() if k != "semantic_connector.layernorm.bias"}, TINY_VALUES
        )
