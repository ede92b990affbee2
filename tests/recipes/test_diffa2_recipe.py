"""Recipe smoke tests: the four stage YAMLs run through ``recipes/DIFFA2/train.py`` on the tiny model.

Each test launches the recipe exactly as a user does (``python train.py hparams/X.yaml --k=v``),
with the overrides of :func:`speechbrain_diffa.demo.tiny_corpus.tiny_recipe_overrides`.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from speechbrain_diffa.demo.tiny_corpus import make_tiny_corpus, tiny_recipe_overrides

pytestmark = pytest.mark.slow  # each test trains through train.py

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "DIFFA2")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Tiny tone corpus with manifests for every stage."""
    return make_tiny_corpus(str(tmp_path_factory.mktemp("corpus")), num_train=8, num_valid=2)


def stage_command(yaml, tiny_root, data, out, previous=None, launcher=(sys.executable,), **extra):
    """The command line of one stage on the tiny models ("" for ``previous``: fresh adapters)."""
    overrides = tiny_recipe_overrides(tiny_root, data, out)
    if previous is not None:
        overrides["previous_stage"] = previous
    overrides.update(extra)
    args = [
        f"--{key}={json.dumps(value) if isinstance(value, (list, dict)) else value}" for key, value in overrides.items()
    ]
    return [*launcher, "train.py", f"hparams/{yaml}", *args]


def free_port():
    """A TCP port nobody listens on now (for torchrun's rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command, timeout=300):
    """Run a recipe command in its own process group; on failure show the end of its output."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    process = subprocess.Popen(
        command, cwd=RECIPE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun's workers too
        stdout, stderr = process.communicate()
        raise AssertionError(f"timed out after {timeout} s:\n{stderr[-5000:]}") from None
    assert process.returncode == 0, stdout[-3000:] + stderr[-5000:]


def trained(out):
    """The trainable tensors a stage wrote for the next one."""
    return torch.load(os.path.join(out, "diffa2_trained.ckpt"), weights_only=True)


def step_losses(out):
    """``{step: loss}`` from the stage's per-step log (a resumed step keeps its last value)."""
    with open(os.path.join(out, "train_steps.jsonl"), encoding="utf-8") as f:
        return {r["step"]: r["loss"] for r in map(json.loads, f)}


def test_curriculum_chain(tiny_root, corpus, tmp_path):
    """Stages 1 -> 2 -> 3 -> 4, each from the previous stage's output, each training its own parts (docs/sources.md)."""
    outs = {n: str(tmp_path / f"stage{n}") for n in (1, 2, 3, 4)}
    common = {"number_of_epochs": 1, "batch_size": 4, "valid_decode_examples": 1}
    run(stage_command("stage1_semantic.yaml", tiny_root, corpus, outs[1], **common))
    # lr 0 in stage 2: its output must be stage 1's tensors exactly (the Pretrainer chained them)
    run(stage_command("stage2_acoustic.yaml", tiny_root, corpus, outs[2], outs[1], lr=0.0, **common))
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, outs[3], outs[2], **common))
    run(
        stage_command(
            "stage4_vrpo.yaml",
            tiny_root,
            corpus,
            outs[4],
            outs[3],
            use_tensorboard=True,
            log_interval=1,
            **dict(common, batch_size=2),
        )
    )

    s1, s2, s3, s4 = (trained(outs[n]) for n in (1, 2, 3, 4))
    assert {k.split(".")[0] for k in s1} == {"semantic_adapter", "trainable_prompts"}
    assert {k.split(".")[0] for k in s2} == {"semantic_adapter", "acoustic_adapter"}
    for name, value in s2.items():
        if name.startswith("semantic_adapter"):
            assert torch.equal(value, s1[name]), name
    lora = sorted(k for k in s3 if "lora_" in k)
    assert lora and all(".default." in k for k in lora)
    assert not any(k.endswith(("q_proj.base_layer.weight", "embed_tokens.weight")) for k in s3)
    assert set(s4) == set(s3)
    assert any(not torch.equal(s3[k], s4[k]) for k in s3), "stage 4 did not train"
    with open(os.path.join(outs[4], "train_log.txt"), encoding="utf-8") as f:
        assert "reward_accuracy" in f.read()
    events = EventAccumulator(os.path.join(outs[4], "tb_logs"))
    events.Reload()
    assert {"step/loss", "step/lr", "step/margin", "margin/valid"} <= set(events.Tags()["scalars"])


def test_sft_loss_goes_down_when_overfitting(tiny_root, corpus, tmp_path):
    """Stage 3 on 8 clips: the last epoch's loss is well below the first's."""
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
        )
    )
    losses = step_losses(out)
    first, last = sum(losses[s] for s in (1, 2)) / 2, sum(losses[s] for s in (23, 24)) / 2
    assert last < 0.6 * first, losses
    with open(os.path.join(out, "train_log.txt"), encoding="utf-8") as f:
        assert "train answer_accuracy" in f.read()


def test_killed_run_resumes_to_the_same_weights(tiny_root, corpus, tmp_path):
    """SIGKILL a stage-3 run mid-epoch, run the same command again: same final weights as no kill."""
    options = {"number_of_epochs": 2, "batch_size": 2, "lr": 0.003, "warmup_steps": 2, "valid_manifest": ""}
    reference = str(tmp_path / "uninterrupted")
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, reference, "", ckpt_interval_steps=1, **options))

    out = str(tmp_path / "killed")
    command = stage_command("stage3_sft.yaml", tiny_root, corpus, out, "", ckpt_interval_steps=1, **options)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    process = subprocess.Popen(command, cwd=RECIPE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps_log = os.path.join(out, "train_steps.jsonl")
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if os.path.isfile(steps_log) and len(open(steps_log).readlines()) >= 2:  # mid-epoch 1 (4 steps/epoch)
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not os.path.isfile(os.path.join(out, "diffa2_trained.ckpt"))
    killed_at = max(step_losses(out))
    assert killed_at < 8

    run(command)
    resumed, uninterrupted = trained(out), trained(reference)
    assert set(resumed) == set(uninterrupted)
    for name in resumed:
        torch.testing.assert_close(resumed[name], uninterrupted[name], rtol=0, atol=1e-6, msg=name)
    assert step_losses(out) == pytest.approx(step_losses(reference), abs=1e-5)


def test_two_process_ddp_matches_one_process(tiny_root, tmp_path):
    """torchrun, 2 gloo processes x batch 2 == 1 process x batch 4: same loss curve and weights.

    Clips are of equal length: DIFFA attends to audio padding (as the release does), so a clip's
    encoding depends on the longest clip of its batch, and batches differ between the two runs.
    """
    data = make_tiny_corpus(str(tmp_path / "data"), num_train=8, num_valid=1, seconds=0.75)
    manifest = os.path.join(data, "sft_train.json")
    with open(manifest, encoding="utf-8") as f:
        records = json.load(f)
    for record in records:  # equal answer lengths: DIFFA normalises by answer tokens per batch
        record["target"] = "a tone"
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(records, f)
    options = {
        "number_of_epochs": 2,
        "lr": 0.003,
        "warmup_steps": 2,
        "valid_manifest": "",
        "replay_manifest": "",
        "sorting": "ascending",
        "acoustic_dropout": 0.0,
        "train_dataloader_opts": {"shuffle": False},
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
    }
    single = str(tmp_path / "single")
    run(stage_command("stage3_sft.yaml", tiny_root, data, single, "", batch_size=4, **options))
    ddp = str(tmp_path / "ddp")
    launcher = (sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port()}")
    run(
        stage_command(
            "stage3_sft.yaml",
            tiny_root,
            data,
            ddp,
            "",
            launcher=launcher,
            batch_size=2,
            distributed_backend="gloo",
            **options,
        )
    )

    assert step_losses(ddp) == pytest.approx(step_losses(single), rel=1e-5)
    assert len(step_losses(single)) == 4
    a, b = trained(single), trained(ddp)
    assert set(a) == set(b)
    for name in a:
        # An attention key bias shifts every score of a query equally, so softmax ignores it:
        # its true gradient is 0 and Adam turns rounding noise into full-size steps. Skip it.
        if name.endswith("attention.self.key.bias"):
            continue
        torch.testing.assert_close(a[name], b[name], rtol=1e-4, atol=1e-5, msg=name)


def run_failing(command, timeout=300):
    """Run a recipe command that must fail; return (exit status, stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run(command, cwd=RECIPE, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stderr


@pytest.mark.parametrize("kind", ["huge_float", "not_audio"])
def test_a_hostile_record_stops_the_run_with_one_message_and_no_weights(kind, corpus, tiny_root, tmp_path):
    """A 1e30 float WAV made the loss NaN and the run exited 0 with 90 of 90 trained tensors NaN."""
    import soundfile

    records = json.load(open(os.path.join(corpus, "sft_train.json")))
    bad = tmp_path / "bad.wav"
    if kind == "huge_float":
        soundfile.write(bad, (torch.sin(torch.arange(16000) / 5.0) * 1e30).numpy(), 16000, subtype="FLOAT")
    else:
        bad.write_text("not audio")
    records[0] = dict(records[0], audio_filepath=str(bad))
    manifest = tmp_path / "train.json"
    manifest.write_text(json.dumps(records))
    out = tmp_path / "stage2"
    command = stage_command("stage2_acoustic.yaml", tiny_root, corpus, str(out), previous="", train_manifest=manifest)
    status, stderr = run_failing(command)
    error = stderr[stderr.find("train.py: error: ") :]
    assert status != 0 and "train.py: error: " in stderr and "bad.wav" in error, stderr[-3000:]
    assert "Traceback" not in stderr
    assert not (out / "diffa2_trained.ckpt").exists()


def test_skip_bad_also_leaves_out_a_clip_that_fails_only_when_read(corpus, tiny_root, tmp_path):
    """A clip far too loud has a valid header: only reading it shows the fault, mid-epoch. With skip_bad the
    run left it out of its batch, trained on the rest and listed it; before, it stopped the run."""
    import soundfile

    records = json.load(open(os.path.join(corpus, "sft_train.json")))
    bad = os.path.join(corpus, "loud.wav")
    soundfile.write(bad, (torch.sin(torch.arange(16000) / 5.0) * 1e30).numpy(), 16000, subtype="FLOAT")
    records[0] = dict(records[0], audio_filepath="{data_root}/loud.wav")
    manifest = tmp_path / "train.json"
    manifest.write_text(json.dumps(records))
    out = tmp_path / "stage2"
    command = stage_command(
        "stage2_acoustic.yaml", tiny_root, corpus, str(out), previous="", train_manifest=manifest, skip_bad=True
    )
    run(command)
    weights = trained(str(out))
    assert weights and all(torch.isfinite(v).all() for v in weights.values())
    with open(out / "skipped_train_at_read.jsonl", encoding="utf-8") as f:
        skipped = [json.loads(line) for line in f]
    assert {s["id"] for s in skipped} == {records[0]["id"]} and "loud.wav" in skipped[0]["problem"]
    assert not (out / "skipped_train.json").exists()  # the header check passed it: found only when read


def epoch_train_losses(out):
    """``{epoch: train loss}`` from SpeechBrain's train_log.txt."""
    losses = {}
    with open(os.path.join(out, "train_log.txt"), encoding="utf-8") as f:
        for line in f:
            epoch, loss = re.search(r"epoch: (\d+)", line), re.search(r"train loss: ([-\d.e+]+)", line)
            if epoch and loss:
                losses[int(epoch.group(1))] = float(loss.group(1))
    return losses


def test_a_run_resumed_after_an_epoch_logs_and_trains_as_an_uninterrupted_one(tiny_root, corpus, tmp_path):
    """Without a validation set, the end-of-epoch checkpoint held the epoch's step count and average loss:
    the resumed epoch's logged loss (and ranking metric) blended in the previous epoch's (8.03 for 7.53)."""
    options = {"batch_size": 2, "lr": 0.003, "warmup_steps": 2, "decay_steps": 1000, "valid_manifest": ""}
    reference = str(tmp_path / "uninterrupted")
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, reference, "", number_of_epochs=2, **options))
    out = str(tmp_path / "resumed")
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, out, "", number_of_epochs=1, **options))
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, out, "", number_of_epochs=2, **options))
    assert epoch_train_losses(out) == pytest.approx(epoch_train_losses(reference), abs=1e-4)
    for name, value in trained(out).items():
        torch.testing.assert_close(value, trained(reference)[name], rtol=0, atol=1e-6, msg=name)


def test_the_autoregressive_control_runs_the_same_recipe(tiny_root, corpus, tmp_path):
    """``--backbone=autoregressive`` (a causal Llama as llm_path): stages 2 -> 3 -> 4 train, export, load, answer."""
    from speechbrain_diffa.demo.tiny_models import make_tiny_causal_lm
    from speechbrain_diffa.hub.export import export_recipe
    from speechbrain_diffa.inference import DIFFA2

    ar = make_tiny_causal_lm(str(tmp_path / "ar"))
    outs = {n: str(tmp_path / f"stage{n}") for n in (2, 3, 4)}
    common = {"number_of_epochs": 1, "batch_size": 4, "valid_decode_examples": 1, "backbone": "autoregressive"}
    run(stage_command("stage2_acoustic.yaml", tiny_root, corpus, outs[2], "", llm_path=ar, **common))
    run(stage_command("stage3_sft.yaml", tiny_root, corpus, outs[3], outs[2], llm_path=ar, **common))
    run(
        stage_command(
            "stage4_vrpo.yaml", tiny_root, corpus, outs[4], outs[3], llm_path=ar, **dict(common, batch_size=2)
        )
    )
    s3, s4 = trained(outs[3]), trained(outs[4])
    assert any("lora_" in k for k in s3) and set(s4) == set(s3)
    assert any(not torch.equal(s3[k], s4[k]) for k in s3), "stage 4 (DPO on exact log-likelihoods) did not train"
    with open(os.path.join(outs[4], "train_log.txt"), encoding="utf-8") as f:
        assert "reward_accuracy" in f.read()
    folder = export_recipe(outs[4], str(tmp_path / "model"))
    model = DIFFA2.from_hparams(source=folder)
    assert model.model.llm.is_causal
    assert isinstance(model.answer_file(os.path.join(folder, "example.wav"), "Is the tone high or low?"), str)
