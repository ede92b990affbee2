"""The one-command demo, shortened (few clips, few steps): every step runs and the summary is complete.

The full demo (the README's first command) is what shows learning; this keeps its plumbing from
rotting: corpus, stand-ins, stages 1-4 through ``train.py``, harness scoring, margin, example.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from speechbrain_diffa.demo.curriculum import QUICK, SUMMARY_FILE, TASKS

pytestmark = pytest.mark.slow  # the whole curriculum, shortened

REPO = Path(__file__).resolve().parents[2]


def run_as_written(command, cwd, timeout=600):
    """Run a README command line in ``cwd`` with this suite's environment; return its stdout (must exit 0)."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", DIFFA_NO_APT="1")
    if sys.prefix != sys.base_prefix:  # the suite runs in the project's venv: the scripts reuse it
        env["DIFFA_VENV"] = sys.prefix
    process = subprocess.Popen(command, shell=True, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)  # fmt: skip
    try:
        stdout, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the stages run as its children
        stdout, _ = process.communicate()
        raise AssertionError(f"{command} timed out:\n{stdout[-3000:]}") from None
    assert process.returncode == 0, stdout[-3000:]
    return stdout


def test_the_readme_demo_command_runs_from_a_fresh_checkout(tmp_path):
    """``bash recipes/demo.sh`` as the README writes it (plus --quick), from a copy of the checkout's root.

    The default output is relative (results/demo_quick); the stages run in the recipe's folder, so
    this is the run that broke when a relative path reached train.py.
    """
    checkout = tmp_path / "checkout"
    shutil.copytree(
        REPO, checkout, ignore=shutil.ignore_patterns(".git", ".venv", "results", "__pycache__", "*.egg-info")
    )
    readme = (REPO / "README.md").read_text()
    assert "bash recipes/demo.sh " in readme
    stdout = run_as_written("bash recipes/demo.sh --quick", cwd=checkout)
    out = checkout / "results" / "demo_quick"
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

    # The matched autoregressive control, reusing that run's corpus and Whisper stand-in (issue: the paper's question).
    stdout = run_as_written(
        f"{sys.executable} -m speechbrain_diffa.demo --quick --compare autoregressive", cwd=checkout
    )
    control = json.loads((out / SUMMARY_FILE.replace(".json", "_autoregressive.json")).read_text())
    assert control["backbone"] == "autoregressive" and sorted(control["stages"]) == ["1", "2", "3", "4"]
    assert control["chance"] == summary["chance"] and set(control["latency"]) == {"1", "8"}
    assert (out / "models" / "ar" / "config.json").is_file() and (
        out / "ar_stage4_vrpo" / "diffa2_trained.ckpt"
    ).is_file()
    report = json.loads((out / "eval" / "ar_stage4_vrpo" / "mmau" / "report.json").read_text())
    assert report["items_scored"] == QUICK.num_test
    assert "| stage 4 | autoregressive |" in stdout and "autoregressive (greedy, KV cache)" in stdout
