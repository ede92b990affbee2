"""bf16 on a CUDA GPU: the backbone, the decoders, the inference interface and the recipe stages.

Skipped where there is no GPU (CI has none). On a GPU machine:
``pytest -q tests/recipes/test_cuda_bf16.py``. The full-scale YAMLs train in bf16 (LLaDA's
weights in bf16, LoRA and adapters fp32 under autocast) and the interface's ``precision: auto``
turns bf16 on for CUDA, so these are the paths users take on GPUs; the rest of the suite runs
them in fp32 on CPU.
"""

import json
import math
import os

import pytest
import torch
from test_diffa2_recipe import run, stage_command, step_losses, trained

from speechbrain_diffa.demo.tiny_corpus import make_tiny_corpus
from speechbrain_diffa.llada import LLaDA
from speechbrain_diffa.sampling import FAST_DECODING, REFERENCE_DECODING, generate

# Another device can be named to try these where there is no GPU (e.g. "cpu": slow, bf16 emulated).
DEVICE = os.environ.get("DIFFA_BF16_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

BF16 = {"device": DEVICE, "precision": "bf16", "eval_precision": "bf16", "llm_dtype": "bfloat16"}


def relative_error(value, reference):
    """``|value - reference| / |reference|`` over the whole tensor, in fp32."""
    value, reference = value.float().cpu(), reference.float().cpu()
    return float((value - reference).norm() / reference.norm())


def prompts(n_ordinary, lengths, seed=0):
    """Left-padded random prompts of the given lengths and their attention mask."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, -length:] = torch.randint(0, n_ordinary, (length,), generator=g)
        mask[row, -length:] = 1
    return ids, mask


def test_llada_in_bf16_on_cuda_is_close_to_fp32(tiny_llada_path):
    """The same weights in bf16 on the GPU give the fp32 CPU logits up to bf16 rounding."""
    ids, mask = prompts(200, [24, 17])
    fp32 = LLaDA.from_pretrained(tiny_llada_path).eval()
    bf16 = LLaDA.from_pretrained(tiny_llada_path, dtype=torch.bfloat16, device=DEVICE).eval()
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        reference = fp32(ids, attention_mask=mask).logits
        logits = bf16(ids.to(DEVICE), attention_mask=mask.to(DEVICE)).logits
    assert logits.device.type == torch.device(DEVICE).type and logits.dtype == torch.bfloat16
    assert torch.isfinite(logits.float()).all()
    keep = mask.bool()  # padded positions are not compared (their rows are masked out anyway)
    assert relative_error(logits.cpu()[keep], reference[keep]) < 0.03


@pytest.mark.parametrize(
    "options",
    [REFERENCE_DECODING, FAST_DECODING, {"threshold": 0.9, "cache": "prefix"}],
    ids=["reference", "interface default", "threshold + prefix cache"],
)
def test_decoders_run_in_bf16_on_cuda(tiny_llada_path, options):
    """Every decoder finishes a left-padded batch in bf16 on the GPU: no mask left, prompts kept."""
    llm = LLaDA.from_pretrained(tiny_llada_path, dtype=torch.bfloat16, device=DEVICE).eval()
    ids, mask = prompts(200, [12, 7, 9])
    with open(os.path.join(tiny_llada_path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    mask_id, eos_id = config["mask_token_id"], config["eos_token_id"]
    stats = {}
    out = generate(
        llm,
        ids.to(DEVICE),
        steps=8,
        gen_length=8,
        block_length=4,
        attention_mask=mask.to(DEVICE),
        mask_id=mask_id,
        eos_id=eos_id,
        eot_id=eos_id,
        stats=stats,
        **options,
    )
    assert out.device.type == torch.device(DEVICE).type and out.shape == (3, ids.shape[1] + 8)
    assert torch.equal(out[:, : ids.shape[1]].cpu(), ids)
    answer = out[:, ids.shape[1] :]
    if not options.get("eos_early_stop"):  # an early stop leaves the masks after an EOS in place
        assert not (answer == mask_id).any()
    assert 1 <= stats["nfe"] <= 8 + 2  # the caches add one prefix pass per block at most


@pytest.mark.parametrize(
    "options",
    [{"cache": "dual", "factor": 0.5, "eos_early_stop": True}, {"cache": "prefix"}, {"eos_early_stop": True}],
    ids=["answer-fast", "prefix cache", "eos stop"],
)
def test_static_cache_and_its_graphs_in_bf16(tiny_llada_path, options):
    """In bf16 on the GPU, replayed graphs give exactly the eager static cache's tokens (the same kernels), and the
    static cache the dynamic one's up to bf16 rounding (the keys are summed in another order)."""
    llm = LLaDA.from_pretrained(tiny_llada_path, dtype=torch.bfloat16, device=DEVICE).eval()
    with torch.no_grad():
        llm.transformer.lm_head.weight.mul_(30)  # far-apart logits: the tokens, not the rounding, decide
    ids, mask = prompts(200, [12, 7, 9, 12, 10, 8, 11, 12])
    with open(os.path.join(tiny_llada_path, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    settings = dict(steps=32, gen_length=32, block_length=8, attention_mask=mask.to(DEVICE),
                    mask_id=config["mask_token_id"], eos_id=config["eos_token_id"], eot_id=config["eos_token_id"],
                    **options)  # fmt: skip
    dynamic = generate(llm, ids.to(DEVICE), **settings)
    static = generate(llm, ids.to(DEVICE), static_cache=True, **settings)
    agreement = float((static == dynamic).float().mean())
    print(f"static vs dynamic cache in bf16, {options}: {agreement:.1%} of tokens equal")
    assert agreement >= 0.9
    if DEVICE.startswith("cuda"):
        for _ in range(2):  # captured on the first call, replayed on the second
            assert torch.equal(generate(llm, ids.to(DEVICE), static_cache=True, cuda_graphs=True, **settings), static)
        assert len(llm._captured_decoding) == 1


def test_interface_compiled_in_bf16_on_cuda(tmp_path):
    """run_opts={"compile": True} on the GPU: the encoder compiled, the decoding captured, answers given."""
    from speechbrain_diffa.hub.export import write_tiny_model_folder
    from speechbrain_diffa.inference import DIFFA2

    folder = write_tiny_model_folder(str(tmp_path))
    example = os.path.join(folder, "example.wav")
    options = {"run_opts": {"device": DEVICE}, "overrides": {"llm_dtype": "bfloat16"}}
    eager = DIFFA2.from_hparams(source=folder, **options)
    compiled = DIFFA2.from_hparams(source=folder, **{**options, "run_opts": {"device": DEVICE, "compile": True}})
    question = "Is the tone high or low?"
    answers = [compiled.answer_files([example] * 3, question, batch_size=3) for _ in range(2)]
    assert answers[0] == answers[1] and len(set(answers[0])) == 1
    expected = eager.answer_files([example] * 3, question, batch_size=3)
    print(f"compiled vs eager answers in bf16: {answers[0][0]!r} / {expected[0]!r}")
    if DEVICE.startswith("cuda"):
        assert len(compiled.model.llm._captured_decoding) >= 1


def test_interface_answers_in_bf16_on_cuda(tmp_path):
    """``precision: auto`` is bf16 on a GPU; a bf16 model answers and transcribes there."""
    from speechbrain_diffa.hub.export import write_tiny_model_folder
    from speechbrain_diffa.inference import DIFFA2

    folder = write_tiny_model_folder(str(tmp_path))
    model = DIFFA2.from_hparams(source=folder, run_opts={"device": DEVICE}, overrides={"llm_dtype": "bfloat16"})
    assert str(model.device).startswith(DEVICE)
    assert model.precision == ("bf16" if DEVICE.startswith("cuda") else "fp32")
    example = os.path.join(folder, "example.wav")
    answers = model.answer_files([example] * 3, "Is the tone high or low?", batch_size=3)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)
    assert len(set(answers)) == 1  # one clip three times: one answer
    assert isinstance(model.transcribe_file(example), str)


def test_recipe_stages_train_in_bf16_on_cuda(tiny_root, tmp_path):
    """Stages 1 -> 4 in bf16 on the GPU: finite losses, finite fp32 trained tensors, stage 4 moves."""
    corpus = make_tiny_corpus(str(tmp_path / "corpus"), num_train=8, num_valid=2)
    outs = {n: str(tmp_path / f"stage{n}") for n in (1, 2, 3, 4)}
    common = {"number_of_epochs": 1, "batch_size": 4, "valid_decode_examples": 1, **BF16}
    run(stage_command("stage1_semantic.yaml", tiny_root, corpus, outs[1], **common))
    run(stage_command("stage2_acoustic.yaml", tiny_root, corpus, outs[2], outs[1], **common))
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, outs[3], outs[2], **common))
    run(stage_command("stage4_vrpo.yaml", tiny_root, corpus, outs[4], outs[3], **dict(common, batch_size=2)))
    for n in (1, 2, 3, 4):
        losses = step_losses(outs[n])
        assert losses and all(math.isfinite(v) for v in losses.values()), (n, losses)
        state = trained(outs[n])
        for name, value in state.items():
            assert value.dtype == torch.float32 and torch.isfinite(value).all(), (n, name, value.dtype)
    s3, s4 = trained(outs[3]), trained(outs[4])
    assert any("lora_" in k for k in s3)
    assert any(not torch.equal(s3[k], s4[k]) for k in s3), "stage 4 did not train"


def test_sft_loss_goes_down_in_bf16_on_cuda(tiny_root, tmp_path):
    """Stage 3 overfits 8 clips in bf16 as it does in fp32 (the CPU test's bar)."""
    corpus = make_tiny_corpus(str(tmp_path / "corpus"), num_train=8, num_valid=2)
    out = str(tmp_path / "overfit")
    run(
        stage_command(
            "stage3_sft.yaml",
            tiny_root,
            corpus,
            out,
            "",
            number_of_epochs=12,
            batch_size=4,
            lr=0.003,
            warmup_steps=2,
            valid_manifest="",
            acoustic_dropout=0.0,
            **BF16,
        )
    )
    losses = step_losses(out)
    first, last = sum(losses[s] for s in (1, 2)) / 2, sum(losses[s] for s in (23, 24)) / 2
    assert last < 0.6 * first, losses
