"""Whisper encoder taps: lengths, trimming, taps, freezing, truncation, errors."""

import logging

import pytest
import torch
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from speechbrain_diffa.whisper import WhisperEncoderTaps


@pytest.fixture(scope="module")
def encoder(tiny_whisper_path):
    return WhisperEncoderTaps(tiny_whisper_path, taps=[0, 2, 4])


def test_lengths_trimming_and_taps(encoder):
    wavs = torch.randn(3, 32000) * 0.1
    out = encoder(wavs, torch.tensor([1.0, 0.5, 0.25]))
    # 16 kHz -> 100 mel frames/s -> 50 encoder frames/s
    assert out.lengths.tolist() == [100, 50, 25]
    assert out.last.shape == (3, 100, 64)
    assert len(out.taps) == 3 and all(t.shape == (3, 1500, 64) for t in out.taps)
    # The last tap (index 4 of a 4-layer encoder) is the final normed output, untrimmed.
    assert torch.allclose(out.taps[2][:, :100], out.last)


def test_taps_match_encoder_hidden_states(encoder):
    wavs = torch.randn(1, 16000) * 0.1
    features, _ = encoder.features(wavs)
    reference = encoder.encoder(features, output_hidden_states=True).hidden_states
    out = encoder(wavs)
    for tap, index in zip(out.taps, [0, 2, 4]):
        assert torch.allclose(tap, reference[index])


def test_log_mel_features_stay_fp32_under_cpu_bf16_autocast(encoder):
    """``--precision bf16`` on a CPU: the features are Whisper's fp32 ones, not a numpy error."""
    wavs = torch.randn(2, 16000) * 0.1
    reference, frames = encoder.features(wavs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features, autocast_frames = encoder.features(wavs)
        encoder(wavs)
    assert features.dtype == torch.float32
    assert torch.equal(features, reference) and torch.equal(autocast_frames, frames)


def test_frozen_no_grad_and_stays_eval(encoder):
    encoder.train()
    assert not encoder.encoder.training
    assert not any(p.requires_grad for p in encoder.parameters())
    wavs = torch.randn(1, 8000, requires_grad=True)
    assert not encoder(wavs).last.requires_grad


def test_padding_does_not_change_valid_frames(encoder):
    """An item's valid frames are the same alone or batched with a longer item (30 s padding)."""
    short = torch.randn(1, 8000) * 0.1
    alone = encoder(short).last
    batch = torch.zeros(2, 16000)
    batch[0, :8000] = short[0]
    batch[1] = torch.randn(16000) * 0.1
    together = encoder(batch, torch.tensor([0.5, 1.0]))
    assert torch.allclose(together.last[0, :25], alone[0, :25], atol=1e-5)


def test_over_30_seconds_truncated_with_warning(encoder, caplog):
    with caplog.at_level(logging.WARNING):
        out = encoder(torch.randn(1, 16000 * 31) * 0.1)
    assert "truncated" in caplog.text
    assert out.lengths.tolist() == [1500]


def test_loads_encoder_weights_only(tiny_whisper_path, encoder):
    from transformers import WhisperForConditionalGeneration

    full = WhisperForConditionalGeneration.from_pretrained(tiny_whisper_path)
    assert isinstance(encoder.encoder, WhisperEncoder)
    for name, tensor in encoder.encoder.state_dict().items():
        assert torch.equal(tensor, full.model.encoder.state_dict()[name])


def test_errors(tmp_path, tiny_whisper_path):
    with pytest.raises(FileNotFoundError, match="No Whisper config.json"):
        WhisperEncoderTaps(str(tmp_path), taps=[1])
    with pytest.raises(ValueError, match="taps \\[9\\] out of range"):
        WhisperEncoderTaps(tiny_whisper_path, taps=[1, 9])
