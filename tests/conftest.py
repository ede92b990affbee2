"""Shared fixtures: tiny offline models built once per test session."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory):
    """A folder with ``llada/`` and ``whisper/`` tiny release-layout models."""
    from speechbrain_diffa.demo.tiny_models import make_tiny_llada, make_tiny_whisper

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_llada(str(root / "llada"))
    make_tiny_whisper(str(root / "whisper"))
    return str(root)


@pytest.fixture(scope="session")
def tiny_llada_path(tiny_root):
    """Path of the tiny LLaDA folder (config, sharded safetensors, tokenizer)."""
    return os.path.join(tiny_root, "llada")


@pytest.fixture(scope="session")
def tiny_whisper_path(tiny_root):
    """Path of the tiny Whisper folder."""
    return os.path.join(tiny_root, "whisper")
