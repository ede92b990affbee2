"""The one-command demo, shortened (few clips, few steps): every step runs and the summary is complete.

The full demo (the README's first command) is what shows learning; this keeps its plumbing from
rotting: corpus, stand-ins, stages 1-4 through ``train.py``, harness scoring, margin, example.
"""

import json
import os
import signal
import subprocess
import sys

from speechbrain_diffa.demo import QUICK, SUMMARY_FILE, TASKS


def test_quick_demo_runs_every_stage_and_writes_the_summary(tmp_path):
    out = tmp_path / "demo"
    command = [sys.executable, "-m", "speechbrain_diffa.demo", "--output", str(out), "--quick"]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        stdout, stderr = process.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the stages run as its children
        stdout, stderr = process.communicate()
        raise AssertionError(f"demo timed out:\n{stderr[-3000:]}") from None
    assert process.returncode == 0, stderr[-3000:]
    summary = json.loads((out / SUMMARY_FILE).read_text())
    assert sorted(summary["stages"]) == ["1", "2", "3", "4"]
    for stage in summary["stages"].values():
        assert set(stage["accuracy"]) == {"overall", *TASKS}
        assert all(0.0 <= v <= 100.0 for v in stage["accuracy"].values())
    assert "preference_margin" in summary["stages"]["3"] and "preference_margin" in summary["stages"]["4"]
    assert 0 < summary["chance"]["overall"] < 100
    assert summary["example"]["truth"] in summary["example"]["choices"]
    assert summary["example"]["fast"]["seconds_per_answer"] > 0
    # every stage's model was scored on all held-out items, none trained on them
    for _, name in (("1", "stage1_semantic"), ("4", "stage4_vrpo")):
        report = json.loads((out / "eval" / name / "mmau" / "report.json").read_text())
        assert report["items_scored"] == QUICK.num_test and report["items_missing"] == 0
    assert "| stage 4 |" in stdout
