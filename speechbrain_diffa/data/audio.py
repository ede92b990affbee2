"""Audio input for DIFFA-2: read, check, downmix, resample and truncate, with clear errors.

Audio is read through SpeechBrain's soundfile-based I/O (no torchaudio/torchcodec decoding).

Authors
 * speechbrain_diffa contributors 2026
"""

import logging
import math
import os
import struct

import torch
import torchaudio
from speechbrain.dataio import audio_io
from speechbrain.utils.data_utils import batch_pad_right

logger = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16000
MAX_SECONDS = 30.0  # Whisper's window; DIFFA truncates longer clips
MIN_SECONDS = 0.08  # 4 encoder frames, what the semantic adapter downsamples into one position
# Float files can hold any value; far past full scale (1.0) is not audio, and Whisper's log-mel overflows
# by 1e18. Integer PCM is read scaled to [-1, 1].
MAX_PEAK = 1e3
EXACT_LENGTH_FORMATS = ("WAV", "WAVEX", "W64", "RF64", "FLAC", "AIFF", "CAF")  # headers that state the frame count


class AudioError(ValueError):
    """An audio file that cannot be used, with the file named in the message."""


def load_audio(path, sample_rate=WHISPER_SAMPLE_RATE, max_seconds=MAX_SECONDS):
    """Read an audio file as a mono waveform at ``sample_rate``, at most ``max_seconds`` long.

    Only the first ``max_seconds`` are read from disk; longer clips are truncated with a warning
    (as the DIFFA release does). Stereo is averaged to mono and other rates are resampled. A
    missing, unreadable, empty or cut-off file, non-finite samples, or a peak above
    :data:`MAX_PEAK` raise :class:`AudioError` naming the file; digital silence and clips shorter
    than :data:`MIN_SECONDS` only warn (valid, if odd, inputs).

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
    speechbrain_diffa.data.audio.AudioError: Audio file not found: .../missing.wav
    """
    if not os.path.isfile(path):
        raise AudioError(f"Audio file not found: {path}")
    try:
        info = audio_io.info(path)
    except RuntimeError as e:
        raise AudioError(f"Cannot read audio file {path}: {e.__cause__ or e}") from None
    if info.frames <= 0:
        raise AudioError(f"Audio file {path} is empty (0 samples)")
    _check_wav_complete(path)
    frames = info.frames
    if max_seconds is not None:  # a little past the cut, so that resampling sees what it would have
        frames = min(frames, math.ceil((max_seconds + 0.05) * info.sample_rate))
    try:
        audio, rate = audio_io.load(path, channels_first=True, dtype=torch.float32, num_frames=frames)
    except RuntimeError as e:
        raise AudioError(f"Cannot read audio file {path}: {e.__cause__ or e}") from None
    if audio.shape[-1] < frames and info.format in EXACT_LENGTH_FORMATS:
        raise AudioError(f"Audio file {path} is cut off: its header says {frames} frames, it holds {audio.shape[-1]}")
    if not torch.isfinite(audio).all():
        raise AudioError(f"Audio file {path} contains NaN or infinite samples")
    peak = float(audio.abs().max())
    if peak > MAX_PEAK:
        raise AudioError(f"Audio file {path} peaks at {peak:.3g}, beyond any audio level (limit {MAX_PEAK:g})")
    audio = audio.mean(0)
    if rate != sample_rate:
        audio = torchaudio.functional.resample(audio, rate, sample_rate)
    if max_seconds is not None and info.frames / info.sample_rate > max_seconds:
        logger.warning("%s is %.1f s long; truncated to %.0f s", path, info.frames / info.sample_rate, max_seconds)
        audio = audio[: int(max_seconds * sample_rate)]
    if peak == 0.0:
        logger.warning("%s is digital silence", path)
    if audio.shape[0] < MIN_SECONDS * sample_rate:
        logger.warning(
            "%s lasts %.0f ms; the model hears it padded with silence", path, 1000 * audio.shape[0] / sample_rate
        )
    return audio


def _check_wav_complete(path):
    """A WAV whose ``data`` chunk claims more bytes than the file holds was cut off (libsndfile reads what is left)."""
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return  # not a RIFF WAV: soundfile reports other formats' damage itself
        size = os.path.getsize(path)
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            name, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"data":
                if length not in (0, 0xFFFFFFFF) and f.tell() + length > size:  # 0 / all ones: streamed, unknown
                    raise AudioError(
                        f"Audio file {path} is cut off: its data chunk declares {length} bytes, the file holds "
                        f"{size - f.tell()}"
                    )
                return
            f.seek(length + (length & 1), 1)


def check_audio_batch(wavs, wav_lens):
    """Refuse an audio batch the model cannot hear: bad types or shapes, non-finite or implausible samples or lengths.

    Arguments
    ---------
    wavs : torch.Tensor
        ``(batch, samples)`` floating point, at least one clip.
    wav_lens : torch.Tensor
        ``(batch,)`` relative lengths in (0, 1] (or None: all 1).

    Example
    -------
    >>> check_audio_batch(torch.zeros(2, 800), torch.tensor([1.0, 0.5]))
    >>> check_audio_batch(torch.zeros(2, 800), torch.tensor([1.0, 0.0]))
    Traceback (most recent call last):
    ...
    ValueError: wav_lens must be relative lengths in (0, 1], got [1.0, 0.0]
    """
    if not isinstance(wavs, torch.Tensor) or wavs.dim() != 2 or not wavs.is_floating_point():
        what = f"{tuple(wavs.shape)} {wavs.dtype}" if isinstance(wavs, torch.Tensor) else type(wavs).__name__
        raise ValueError(f"wavs must be a (batch, samples) floating-point tensor, got {what}")
    if wavs.shape[0] == 0 or wavs.shape[1] == 0:
        raise ValueError(f"wavs holds no audio (shape {tuple(wavs.shape)})")
    if not torch.isfinite(wavs).all():
        raise ValueError("wavs holds NaN or infinite samples")
    peak = float(wavs.abs().max())
    if peak > MAX_PEAK:
        raise ValueError(f"wavs peaks at {peak:.3g}, beyond any audio level (limit {MAX_PEAK:g})")
    if wav_lens is None:
        return
    if not isinstance(wav_lens, torch.Tensor) or wav_lens.shape != (wavs.shape[0],):
        got = tuple(wav_lens.shape) if isinstance(wav_lens, torch.Tensor) else type(wav_lens).__name__
        raise ValueError(f"wav_lens must be a ({wavs.shape[0]},) tensor of relative lengths, got {got}")
    lens = wav_lens.detach().float().cpu()
    if not (torch.isfinite(lens).all() and (lens > 0).all() and (lens <= 1 + 1e-6).all()):
        raise ValueError(f"wav_lens must be relative lengths in (0, 1], got {lens.tolist()}")


def batch_waveforms(waveforms):
    """Right-pad waveforms into ``(batch, samples)`` with SpeechBrain relative lengths (its ``batch_pad_right``).

    Example
    -------
    >>> wavs, lens = batch_waveforms([torch.ones(4), torch.ones(2)])
    >>> wavs.shape, lens.tolist()
    (torch.Size([2, 4]), [1.0, 0.5])
    """
    return batch_pad_right(list(waveforms))
