"""Audio input for DIFFA-2: read, check, downmix, resample and truncate, with clear errors.

Audio is read through SpeechBrain's soundfile-based I/O (no torchaudio/torchcodec decoding).

Authors
 * speechbrain_diffa contributors 2026
"""

import logging
import os

import torch
import torchaudio
from speechbrain.dataio import audio_io

logger = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16000
MAX_SECONDS = 30.0  # Whisper's window; DIFFA truncates longer clips


class AudioError(ValueError):
    """An audio file that cannot be used, with the file named in the message."""


def load_audio(path, sample_rate=WHISPER_SAMPLE_RATE, max_seconds=MAX_SECONDS):
    """Read an audio file as a mono waveform at ``sample_rate``, at most ``max_seconds`` long.

    Stereo is averaged to mono and other rates are resampled. Longer clips are truncated with
    a warning (as the DIFFA release does). A missing, unreadable or empty file raises
    :class:`AudioError` naming the file; digital silence only warns (a valid, if odd, input).

    Arguments
    ---------
    path : str
        Audio file (any format soundfile reads: wav, flac, ogg, mp3...).
    sample_rate : int
        Output rate.
    max_seconds : float
        Truncate after this many seconds (None: never).

    Returns
    -------
    torch.Tensor
        ``(samples,)`` float32.

    Example
    -------
    >>> from speechbrain.dataio import audio_io
    >>> path = getfixture("tmpdir") + "/stereo.wav"
    >>> audio_io.save(path, torch.rand(2, 8000) - 0.5, 8000)
    >>> load_audio(path).shape
    torch.Size([16000])
    >>> load_audio(getfixture("tmpdir") + "/missing.wav")
    Traceback (most recent call last):
    ...
    speechbrain_diffa.dataio.AudioError: Audio file not found: .../missing.wav
    """
    if not os.path.isfile(path):
        raise AudioError(f"Audio file not found: {path}")
    try:
        audio, rate = audio_io.load(path, channels_first=True, dtype=torch.float32)
    except RuntimeError as e:
        raise AudioError(f"Cannot read audio file {path}: {e.__cause__ or e}") from e
    if audio.numel() == 0:
        raise AudioError(f"Audio file {path} is empty (0 samples)")
    audio = audio.mean(0)
    if rate != sample_rate:
        audio = torchaudio.functional.resample(audio, rate, sample_rate)
    if max_seconds is not None and audio.shape[0] > max_seconds * sample_rate:
        logger.warning(
            "%s is %.1f s long; truncated to %.0f s", path, audio.shape[0] / sample_rate, max_seconds
        )
        audio = audio[: int(max_seconds * sample_rate)]
    if not torch.isfinite(audio).all():
        raise AudioError(f"Audio file {path} contains NaN or infinite samples")
    if float(audio.abs().max()) == 0.0:
        logger.warning("%s is digital silence", path)
    return audio


def batch_waveforms(waveforms):
    """Right-pad waveforms into ``(batch, samples)`` with SpeechBrain relative lengths.

    Example
    -------
    >>> wavs, lens = batch_waveforms([torch.ones(4), torch.ones(2)])
    >>> wavs.shape, lens.tolist()
    (torch.Size([2, 4]), [1.0, 0.5])
    """
    longest = max(w.shape[0] for w in waveforms)
    wavs = torch.zeros(len(waveforms), longest)
    for i, w in enumerate(waveforms):
        wavs[i, : w.shape[0]] = w
    lens = torch.tensor([w.shape[0] / longest for w in waveforms])
    return wavs, lens
