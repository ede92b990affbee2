"""The installed package, not the checkout: a wheel built from this tree carries what its entry points need."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # builds a wheel (about 15 s)
STAGES = ("stage1_semantic", "stage2_acoustic", "stage3_sft", "stage4_vrpo")


def test_the_wheel_carries_the_recipe_the_demo_runs(tmp_path):
    """The demo runs recipes/DIFFA2/train.py; installed from a wheel it finds the same files inside the package."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "results", "__pycache__", "build"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), "."],
        cwd=source, capture_output=True, text=True,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("speechbrain_diffa-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    recipe = site / "speechbrain_diffa" / "demo" / "recipe"
    for stage in STAGES:  # the wheel's YAMLs are the checkout's, byte for byte
        yaml = (recipe / "hparams" / f"{stage}.yaml").read_bytes()
        assert yaml == (REPO / "recipes" / "DIFFA2" / "hparams" / f"{stage}.yaml").read_bytes()
    assert (recipe / "train.py").read_bytes() == (REPO / "recipes" / "DIFFA2" / "train.py").read_bytes()
    # From outside any checkout, the installed package (first on the path) finds its own copy.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(site))
    probe = "import speechbrain_diffa.demo.curriculum as c; print(c.__file__); print(c.recipe_folder())"
    found = subprocess.run([sys.executable, "-c", probe], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert found.returncode == 0, found.stderr[-2000:]
    module, folder = found.stdout.split()
    assert Path(module).is_relative_to(site) and Path(folder) == recipe
    usage = subprocess.run(
        [sys.executable, "-m", "speechbrain_diffa.demo", "--help"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert usage.returncode == 0 and "--quick" in usage.stdout, usage.stderr[-2000:]
