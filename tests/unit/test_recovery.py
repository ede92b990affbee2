"""Resuming: a damaged latest checkpoint falls back to the one before it; trained files appear whole or not at all."""

import logging
import os
import time

import pytest
import torch

from speechbrain_diffa.training.checkpointing import CrashSafeCheckpointer


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    layer = torch.nn.Linear(2, 2)
    checkpointer = CrashSafeCheckpointer(str(tmp_path), recoverables={"layer": layer})
    with torch.no_grad():
        layer.weight.fill_(1.0)
    checkpointer.save_checkpoint()
    time.sleep(0.01)  # checkpoint folders are named by time
    with torch.no_grad():
        layer.weight.fill_(2.0)
    latest = checkpointer.save_checkpoint()
    (latest.path / "layer.ckpt").write_bytes(b"damaged")
    with torch.no_grad():
        layer.weight.fill_(0.0)
    with caplog.at_level(logging.WARNING):
        recovered = checkpointer.recover_if_possible()
    assert recovered is not None and recovered.path != latest.path
    assert torch.equal(layer.weight, torch.ones(2, 2))
    assert f"Cannot load checkpoint {latest.path}" in caplog.text
    assert os.path.isdir(latest.path)  # left for inspection


def test_the_trained_file_is_written_whole_or_not_at_all(tiny_root, tmp_path, monkeypatch):
    from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2

    model = make_tiny_diffa2(tiny_root, stage=2)
    path = tmp_path / "diffa2_trained.ckpt"
    model.save_trainable(str(path))
    before = path.read_bytes()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the run stops inside torch.save

    monkeypatch.setattr(torch, "save", killed)
    with pytest.raises(KeyboardInterrupt):
        model.save_trainable(str(path))
    assert path.read_bytes() == before
