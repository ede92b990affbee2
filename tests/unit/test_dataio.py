"""Audio input: downmix, resample, truncation, and clear errors for bad files."""

import logging

import pytest
import torch
from speechbrain.dataio import audio_io

from speechbrain_diffa.data.audio import AudioError, batch_waveforms, load_audio


def write(path, audio, rate):
    audio_io.save(str(path), audio, rate)
    return str(path)


def test_stereo_is_averaged_and_resampled(tmp_path):
    left = torch.sin(torch.arange(44100) / 10.0) * 0.5
    path = write(tmp_path / "stereo.wav", torch.stack([left, left * 0.0]), 44100)
    audio = load_audio(path)
    assert audio.shape == (16000,)
    assert abs(float(audio.abs().max()) - 0.25) < 0.02  # mean of the two channels


def test_long_audio_truncated_with_warning(tmp_path, caplog):
    path = write(tmp_path / "long.wav", torch.rand(1, 16000 * 31) * 0.2 - 0.1, 16000)
    with caplog.at_level(logging.WARNING):
        audio = load_audio(path)
    assert audio.shape == (16000 * 30,)
    assert "truncated to 30 s" in caplog.text


def test_silence_warns_but_loads(tmp_path, caplog):
    path = write(tmp_path / "silent.wav", torch.zeros(1, 8000), 16000)
    with caplog.at_level(logging.WARNING):
        assert load_audio(path).shape == (8000,)
    assert "digital silence" in caplog.text


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(AudioError, match="not found: .*nope.wav"):
        load_audio(str(tmp_path / "nope.wav"))
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all")
    with pytest.raises(AudioError, match="Cannot read audio file .*garbage.wav"):
        load_audio(str(garbage))
    empty = write(tmp_path / "empty.wav", torch.zeros(1, 0), 16000)
    with pytest.raises(AudioError, match="empty.wav is empty"):
        load_audio(empty)


def test_batch_waveforms_relative_lengths():
    wavs, lens = batch_waveforms([torch.ones(10), torch.ones(5), torch.ones(8)])
    assert wavs.shape == (3, 10) and torch.allclose(lens, torch.tensor([1.0, 0.5, 0.8]))
    assert wavs[1, 5:].abs().sum() == 0


def test_a_finite_but_huge_float_file_is_refused(tmp_path):
    """A 1e30-amplitude sine passed the NaN check and made Whisper's log-mel overflow (a NaN run that exited 0)."""
    import soundfile

    path = tmp_path / "loud.wav"
    soundfile.write(path, (torch.sin(torch.arange(16000) / 5.0) * 1e30).numpy(), 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"loud.wav peaks at 1e\+30"):
        load_audio(str(path))


def test_a_cut_off_wav_is_refused(tmp_path):
    """libsndfile reads what survives of a cut-off WAV silently; the data chunk's size gives it away."""
    path = write(tmp_path / "whole.wav", torch.rand(1, 16000) * 0.2 - 0.1, 16000)
    data = open(path, "rb").read()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="cut.wav is cut off"):
        load_audio(str(cut))
    assert load_audio(path).shape == (16000,)


def test_only_the_first_30_seconds_are_read_from_disk(tmp_path, monkeypatch):
    """A 10-minute 8-channel 48 kHz file took 1.6 GB when read whole before the cut."""
    import speechbrain_diffa.data.audio as dataio

    path = write(tmp_path / "long.wav", torch.zeros(8, 48000 * 40), 48000)
    asked = []
    real = dataio.audio_io.load

    def spy(*args, **kwargs):
        asked.append(kwargs.get("num_frames"))
        return real(*args, **kwargs)

    monkeypatch.setattr(dataio.audio_io, "load", spy)
    assert load_audio(path).shape == (16000 * 30,)
    assert asked and 0 < asked[0] <= 48000 * 30.1


def test_a_short_clip_warns_and_is_heard_padded(tmp_path, caplog):
    path = write(tmp_path / "blip.wav", torch.rand(1, 800) * 0.2 - 0.1, 16000)
    with caplog.at_level(logging.WARNING):
        assert load_audio(path).shape == (800,)
    assert "padded with silence" in caplog.text
