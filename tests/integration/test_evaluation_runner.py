"""The runner end to end with the tiny DIFFA-2: every benchmark, resume after a crash, shards, CLI."""

import importlib.util
import json
import os

import pytest

from speechbrain_diffa.evaluation import fixtures
from speechbrain_diffa.evaluation.__main__ import main
from speechbrain_diffa.evaluation.benchmarks import prepare
from speechbrain_diffa.evaluation.runner import ModelAnswerer, read_predictions, run_benchmark
from speechbrain_diffa.evaluation.scoring import MODES, SCORER_VERSION

FAST = {"steps": 2, "gen_length": 2, "block_length": 2}  # keep the tiny model quick


class Counting:
    """Wraps an answerer: records every decoded question and can crash on a given call."""

    def __init__(self, inner, crash_on_call=None):
        self.inner, self.crash_on_call = inner, crash_on_call
        self.calls, self.questions = 0, []
        self.description = inner.description

    def answer_batch(self, wavs, wav_lens, questions, **decoding):
        self.calls += 1
        if self.calls == self.crash_on_call:
            raise KeyboardInterrupt("killed mid-run")
        self.questions += questions
        return self.inner.answer_batch(wavs, wav_lens, questions, **decoding)


@pytest.fixture(scope="module")
def answerer(tmp_path_factory):
    from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2

    return ModelAnswerer(make_tiny_diffa2(str(tmp_path_factory.mktemp("tiny"))).eval(), name="tiny")


WRITERS = {
    "mmau": (fixtures.write_mmau, {"version": "v05.15.25"}),
    "mmar": (fixtures.write_mmar, {}),
    "mmsu": (fixtures.write_mmsu, {}),
    "librispeech": (fixtures.write_librispeech, {}),
}


def prepared_set(benchmark, folder, n):
    write, options = WRITERS[benchmark]
    write(folder, n=n)
    return prepare(benchmark, folder, **options)


@pytest.mark.parametrize("benchmark", ["mmau", "mmar", "mmsu", "librispeech"])
def test_report_for_every_benchmark(benchmark, answerer, tmp_path):
    data = prepared_set(benchmark, str(tmp_path / "data"), n=5)
    out = str(tmp_path / "out")
    report = run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, progress=False)
    assert report["items_scored"] == 5 and report["mode"] == "strict"
    assert report["run"]["model"] == answerer.description and report["run"]["decoding"]["steps"] == 2
    assert report["run"]["scorer_version"] == SCORER_VERSION
    assert ("{question}" in report["run"]["prompt"]) == (benchmark != "librispeech")
    for name in ("predictions.jsonl", "report.json", "report.md"):
        assert os.path.isfile(os.path.join(out, name))
    assert os.path.isfile(os.path.join(out, "report.png")) == (benchmark != "librispeech")
    settings, predictions = read_predictions(os.path.join(out, "predictions.jsonl"))
    assert len(predictions) == 5 and settings["benchmark"] == benchmark


def test_resume_after_kill_matches_uninterrupted_run(answerer, tmp_path):
    data = prepared_set("mmau", str(tmp_path / "data"), n=7)
    reference = run_benchmark(data, answerer, str(tmp_path / "full"), batch_size=2, decoding=FAST, progress=False)

    out = str(tmp_path / "resumed")
    killed = Counting(answerer, crash_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(data, killed, out, batch_size=2, decoding=FAST, progress=False)
    path = os.path.join(out, "predictions.jsonl")
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "mmau-0004-ü", "predic')  # a write cut short by the kill
    done = set(read_predictions(path)[1])
    assert len(done) == 4

    again = Counting(answerer)
    report = run_benchmark(data, again, out, batch_size=2, decoding=FAST, progress=False)
    assert again.calls == 2 and len(again.questions) == 3  # only the 3 undecoded items
    assert all(item.question not in q for item in data.items if item.id in done for q in again.questions)
    assert report == reference

    untouched = Counting(answerer)
    assert run_benchmark(data, untouched, out, batch_size=2, decoding=FAST, progress=False) == reference
    assert untouched.calls == 0


def test_max_batches_then_resume(answerer, tmp_path):
    data = prepared_set("mmsu", str(tmp_path / "data"), n=5)
    out = str(tmp_path / "out")
    assert run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, max_batches=1, progress=False) is None
    assert len(read_predictions(os.path.join(out, "predictions.jsonl"))[1]) == 2
    report = run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, progress=False)
    assert report["items_scored"] == 5


def test_other_settings_are_not_mixed(answerer, tmp_path):
    data = prepared_set("mmar", str(tmp_path / "data"), n=3)
    out = str(tmp_path / "out")
    run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, max_batches=1, progress=False)
    with pytest.raises(ValueError, match="decoding="):
        run_benchmark(data, answerer, out, batch_size=2, decoding={**FAST, "steps": 1}, progress=False)


def test_shards_merge(answerer, tmp_path):
    data = prepared_set("mmar", str(tmp_path / "data"), n=5)
    single = run_benchmark(data, answerer, str(tmp_path / "single"), batch_size=2, decoding=FAST, progress=False)
    out = str(tmp_path / "sharded")
    assert run_benchmark(data, answerer, out, 2, decoding=FAST, rank=0, world_size=2, progress=False) is None
    assert os.path.isfile(os.path.join(out, "predictions.rank0.jsonl"))
    report = run_benchmark(data, answerer, out, 2, decoding=FAST, rank=1, world_size=2, progress=False)
    written = ["official_input.jsonl", "predictions.jsonl", "report.json", "report.md", "report.png"]
    assert sorted(os.listdir(out)) == written
    merged = read_predictions(os.path.join(out, "predictions.jsonl"))[1]
    assert list(merged) == [item.id for item in data.items]
    # equal-length clips: no padding, so sharding does not change the answers
    assert report["overall"] == single["overall"]


def test_an_unreadable_clip_stops_the_run_by_name_or_is_left_out_with_allow_incomplete(answerer, tmp_path):
    """A clip far too loud passes every header check; before, every rerun stopped at its batch."""
    import soundfile
    import torch

    from speechbrain_diffa.data.audio import AudioError
    from speechbrain_diffa.evaluation.runner import UNREADABLE

    data = prepared_set("mmar", str(tmp_path / "data"), n=4)
    loud = data.items[1]
    soundfile.write(loud.audio, (torch.ones(16000) * 1e30).numpy(), 16000, subtype="FLOAT")
    out = str(tmp_path / "out")
    with pytest.raises(AudioError, match=rf"item {loud.id!r}: .*allow_incomplete"):
        run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, progress=False)
    report = run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, allow_incomplete=True, progress=False)
    assert report["modes"]["strict"]["items_scored"] == 4  # the unreadable one counted wrong, as a missing answer
    predicted = read_predictions(os.path.join(out, "predictions.jsonl"))[1]
    assert sorted(predicted) == sorted(item.id for item in data.items if item.id != loud.id)
    with open(os.path.join(out, UNREADABLE), encoding="utf-8") as f:
        assert [json.loads(line)["id"] for line in f] == [loud.id]


def test_command_line(answerer, tmp_path, capsys):
    data_dir = str(tmp_path / "data")
    data = prepared_set("mmar", data_dir, n=3)
    out = str(tmp_path / "out")
    run_benchmark(data, answerer, out, batch_size=2, decoding=FAST, max_batches=1, progress=False)
    with pytest.raises(RuntimeError, match="have no prediction"):
        main(["mmar", "--data", data_dir, "--out", out, "--merge"])
    report = main(["mmar", "--data", data_dir, "--out", out, "--merge", "--allow_incomplete", "--mode", "official"])
    assert report["mode"] == "official" and report["items_scored"] == 2 and report["items_skipped"] == 1
    assert report["modes"]["strict"]["items_scored"] == 3 and set(report["modes"]) == set(MODES)
    assert "# MMAR" in capsys.readouterr().out
    json.load(open(os.path.join(out, "report.json"), encoding="utf-8"))
    mmau_dir = str(tmp_path / "mmau")
    fixtures.write_mmau(mmau_dir, n=2)
    with pytest.raises(ValueError, match="not a known official MMAU file .*--version 2024 or v05.15.25"):
        main(["mmau", "--data", mmau_dir, "--out", out, "--model", "m"])
    if importlib.util.find_spec("speechbrain_diffa.inference") is None:  # until the interface exists
        with pytest.raises(RuntimeError, match="inference"):
            main(["mmar", "--data", data_dir, "--out", str(tmp_path / "o2"), "--model", str(tmp_path)])


TORCHRUN_SCRIPT = """
import sys
from speechbrain_diffa.evaluation.__main__ import _init_distributed
from speechbrain_diffa.evaluation.benchmarks import prepare
from speechbrain_diffa.evaluation.runner import run_benchmark, shard_from_env

class Echo:
    description = {"class": "Echo"}
    def answer_batch(self, wavs, wav_lens, questions, **decoding):
        return [q.split("A. ")[1].split("\\n")[0] for q in questions]  # always option A

_init_distributed(shard_from_env()[1])
report = run_benchmark(prepare("mmar", sys.argv[1]), Echo(), sys.argv[2], batch_size=2, progress=False)
print("REPORT" if report else "NONE", shard_from_env())
"""


@pytest.mark.slow
def test_torchrun_ranks_merge_after_barrier(tmp_path):
    import signal
    import subprocess
    import sys

    data_dir = str(tmp_path / "data")
    data = prepared_set("mmar", data_dir, n=6)
    script = tmp_path / "run.py"
    script.write_text(TORCHRUN_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    process = subprocess.Popen(
        command + [str(script), data_dir, str(tmp_path / "out")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun's workers too, or they outlive the test
        raise
    assert process.returncode == 0, stderr[-2000:]
    assert "REPORT (0, 2)" in stdout and "NONE (1, 2)" in stdout  # rank 0 merged
    report = json.load(open(tmp_path / "out" / "report.json", encoding="utf-8"))
    expected = 100 * sum(item.answer == item.choices[0] for item in data.items) / len(data.items)
    assert report["overall"] == pytest.approx(expected) and report["items_scored"] == 6
    assert not [p for p in os.listdir(tmp_path / "out") if ".rank" in p]
