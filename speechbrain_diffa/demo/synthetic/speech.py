"""Speech for the synthetic corpus: espeak-ng voices, or a labelled formant fallback without it.

:func:`espeak_speech` runs ``espeak-ng`` (``apt-get install -y espeak-ng``) with a voice variant
(``m1``..``m7`` male, ``f1``..``f5`` female), a pitch (0-99) and a rate (words per minute), and
resamples its 22.05 kHz output to 16 kHz. When espeak-ng is not installed, :func:`formant_speech`
makes speech-LIKE audio (vowel formants on a glottal pulse train, noise for fricatives): the
same texts, voices and rates, so every question still has an audible answer, but it is not real
speech. :func:`speech_engine` picks one and says in the log which.

Authors
 * speechbrain_diffa contributors 2026
"""

import functools
import io
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import soundfile
import torch
import torchaudio
from scipy.signal import lfilter
from speechbrain.utils.logger import get_logger

from speechbrain_diffa.demo.synthetic.sounds import SAMPLE_RATE, fade, num_samples, silence

logger = get_logger(__name__)

ESPEAK = "espeak-ng"
ESPEAK_INSTALL = "apt-get install -y espeak-ng"
ENGINES = ("auto", "espeak-ng", "formant")


@dataclass(frozen=True)
class Voice:
    """How a sentence is spoken.

    Attributes
    ----------
    gender : str
        ``"man"`` or ``"woman"``.
    variant : str
        espeak-ng voice variant (``"m3"``, ``"f2"``, ...).
    pitch : int
        espeak-ng pitch, 0-99 (50 is the voice's default).
    words_per_minute : int
        Speaking rate.
    """

    gender: str
    variant: str
    pitch: int
    words_per_minute: int


def espeak_available():
    """Whether the ``espeak-ng`` program is on the ``PATH``.

    Example
    -------
    >>> isinstance(espeak_available(), bool)
    True
    """
    return shutil.which(ESPEAK) is not None


def require_espeak():
    """Raise a ``RuntimeError`` saying how to install espeak-ng when it is missing.

    Example
    -------
    >>> if espeak_available():
    ...     require_espeak()
    """
    if not espeak_available():
        raise RuntimeError(
            f"{ESPEAK} is not installed (not found on PATH); install it with `{ESPEAK_INSTALL}` "
            "or build the corpus with speech_engine='formant' (speech-like, not real speech)"
        )


def espeak_speech(text, voice, sample_rate=SAMPLE_RATE):
    """``text`` spoken by espeak-ng in ``voice``, trimmed, at ``sample_rate``.

    Arguments
    ---------
    text : str
        What to say (plain words; passed as one argument, never through a shell).
    voice : Voice
        Variant, pitch and rate.

    Returns
    -------
    numpy.ndarray
        ``(samples,)`` float32.

    Example
    -------
    >>> if espeak_available():
    ...     wave = espeak_speech("seven two", Voice("woman", "f3", 70, 160))
    ...     assert 0.3 < len(wave) / SAMPLE_RATE < 2.0
    """
    require_espeak()
    command = [
        ESPEAK,
        "-v", f"en-us+{voice.variant}",
        "-p", str(voice.pitch),
        "-s", str(voice.words_per_minute),
        "--stdout",
        text,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(f"{ESPEAK} failed on {text!r} with {voice}: {message}")
    wave, rate = soundfile.read(io.BytesIO(result.stdout), dtype="float32")
    if rate != sample_rate:
        with torch.no_grad():
            wave = resampler(rate, sample_rate)(torch.from_numpy(wave)).numpy()
    return trim_silence(wave)


@functools.lru_cache(maxsize=4)
def resampler(orig_rate, new_rate):
    """A cached ``torchaudio`` resampler (its filter kernel is computed once, not per clip).

    Example
    -------
    >>> resampler(22050, 16000)(torch.zeros(22050)).shape
    torch.Size([16000])
    """
    return torchaudio.transforms.Resample(orig_rate, new_rate)


def trim_silence(wave, threshold=0.01):
    """``wave`` without the leading and trailing samples below ``threshold`` (of the peak).

    Example
    -------
    >>> trim_silence(np.array([0, 0, 0.5, 1.0, 0.2, 0, 0], dtype=np.float32)).tolist()
    [0.5, 1.0, 0.20000000298023224]
    """
    loud = np.nonzero(np.abs(wave) > threshold * max(float(np.abs(wave).max()), 1e-9))[0]
    return wave[loud[0] : loud[-1] + 1] if len(loud) else wave


# (F1, F2, F3) in Hz of the vowel letters (Peterson & Barney averages, rounded).
VOWEL_FORMANTS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
    "y": (270, 2290, 3010),
}
FRICATIVES = set("sfhzxvc")
SECONDS_PER_WORD_AT_150_WPM = 0.4


def voice_f0(voice):
    """The fundamental (Hz) the formant fallback uses for ``voice``: men 90-140, women 150-270.

    Example
    -------
    >>> voice_f0(Voice("man", "m3", 50, 150)), voice_f0(Voice("woman", "f3", 50, 150))
    (115.0, 195.0)
    """
    return 90.0 + 0.5 * voice.pitch if voice.gender == "man" else 120.0 + 1.5 * voice.pitch


def formant_speech(text, voice, sample_rate=SAMPLE_RATE):
    """Speech-LIKE audio for ``text`` (the fallback without espeak-ng): not real speech.

    Each vowel letter becomes a voiced segment with its formants at the voice's F0, each
    fricative letter a short noise burst, other consonants a short closure; words are separated
    by pauses; everything scales with the rate. Deterministic (noise seeded by the text).

    Example
    -------
    >>> slow = formant_speech("seven two", Voice("man", "m3", 40, 120))
    >>> fast = formant_speech("seven two", Voice("man", "m3", 40, 240))
    >>> len(slow) > 1.5 * len(fast)
    True
    """
    scale = 150.0 / voice.words_per_minute
    rng = np.random.default_rng(list(text.encode()) or [0])
    f0 = voice_f0(voice)
    parts = []
    for word in text.lower().split():
        for letter in word:
            if letter in VOWEL_FORMANTS:
                parts.append(_vowel(VOWEL_FORMANTS[letter], f0, 0.11 * scale, sample_rate))
            elif letter in FRICATIVES:
                parts.append(0.3 * fade(rng.standard_normal(num_samples(0.06 * scale, sample_rate))))
            elif letter.isalpha():
                parts.append(silence(0.03 * scale, sample_rate))
        parts.append(silence(0.08 * scale, sample_rate))
    wave = np.concatenate(parts).astype(np.float32)
    return wave / max(float(np.abs(wave).max()), 1e-9)


def _vowel(formants, f0, seconds, sample_rate):
    """A voiced segment: glottal pulses at ``f0`` through one resonator per formant."""
    count = num_samples(seconds, sample_rate)
    source = np.zeros(count)
    source[:: max(1, int(sample_rate / f0))] = 1.0
    for frequency in formants:
        bandwidth = 60.0 + 0.05 * frequency
        r = np.exp(-np.pi * bandwidth / sample_rate)
        source = lfilter([1.0 - r], [1.0, -2 * r * np.cos(2 * np.pi * frequency / sample_rate), r * r], source)
    return fade(source / max(float(np.abs(source).max()), 1e-9), seconds=0.02, sample_rate=sample_rate)


def speech_engine(name="auto"):
    """The speech function to use, and its name: espeak-ng when available (or asked), else formant.

    Arguments
    ---------
    name : str
        ``"auto"`` (espeak-ng if installed, else the formant fallback with a warning),
        ``"espeak-ng"`` (error when missing) or ``"formant"``.

    Returns
    -------
    tuple
        ``(engine_name, function(text, voice) -> waveform)``.

    Example
    -------
    >>> speech_engine("formant")[0]
    'formant'
    """
    if name not in ENGINES:
        raise ValueError(f"speech engine must be one of {ENGINES}, got {name!r}")
    if name == "espeak-ng" or (name == "auto" and espeak_available()):
        require_espeak()
        logger.info(f"Synthetic speech: {ESPEAK} voices")
        return "espeak-ng", espeak_speech
    if name == "auto":
        logger.warning(
            f"{ESPEAK} is not installed: speech clips use the formant FALLBACK (speech-like, not real "
            f"speech). For real speech: `{ESPEAK_INSTALL}`"
        )
    return "formant", formant_speech
