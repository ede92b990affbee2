"""Signal building blocks for the synthetic listening corpus: tones, beeps, noise, chirps, notes.

Every function returns a mono ``float32`` numpy array at :data:`SAMPLE_RATE` (16 kHz) with
samples in [-1, 1]; randomness comes only from the ``numpy.random.Generator`` passed in, so a
clip is reproducible from its seed.

Authors
 * speechbrain_diffa contributors 2026
"""

import numpy as np

SAMPLE_RATE = 16000
EDGE_SECONDS = 0.01  # raised-cosine fade at every onset/offset, so no clicks


def num_samples(seconds, sample_rate=SAMPLE_RATE):
    """Samples in ``seconds`` (rounded).

    Example
    -------
    >>> num_samples(0.5)
    8000
    """
    return int(round(seconds * sample_rate))


def silence(seconds, sample_rate=SAMPLE_RATE):
    """Zeros lasting ``seconds``.

    Example
    -------
    >>> silence(0.25).shape
    (4000,)
    """
    return np.zeros(num_samples(seconds, sample_rate), dtype=np.float32)


def fade(signal, seconds=EDGE_SECONDS, sample_rate=SAMPLE_RATE):
    """``signal`` with raised-cosine fade-in and fade-out of ``seconds`` each.

    Example
    -------
    >>> out = fade(np.ones(1000, dtype=np.float32))
    >>> float(out[0]), float(out[500])
    (0.0, 1.0)
    """
    edge = min(num_samples(seconds, sample_rate), len(signal) // 2)
    out = signal.astype(np.float32, copy=True)
    if edge > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(edge) / edge)
        out[:edge] *= ramp
        out[-edge:] *= ramp[::-1]
    return out


def tone(frequency, seconds, harmonics=(1.0,), sample_rate=SAMPLE_RATE):
    """A steady tone at ``frequency`` Hz with the given harmonic amplitudes, peak 1, faded edges.

    Arguments
    ---------
    frequency : float
        Fundamental in Hz.
    seconds : float
        Length.
    harmonics : sequence of float
        Amplitude of the fundamental, 2nd harmonic, ... (default: a pure sine).

    Example
    -------
    >>> x = tone(1000.0, 0.1)
    >>> x.shape, round(float(np.abs(x).max()), 2)
    ((1600,), 1.0)
    """
    time = np.arange(num_samples(seconds, sample_rate)) / sample_rate
    wave = sum(a * np.sin(2 * np.pi * frequency * (k + 1) * time) for k, a in enumerate(harmonics))
    return fade(_unit_peak(wave), sample_rate=sample_rate)


def noise_burst(seconds, rng, sample_rate=SAMPLE_RATE):
    """White noise lasting ``seconds``, peak 1, faded edges.

    Example
    -------
    >>> x = noise_burst(0.2, np.random.default_rng(0))
    >>> x.shape, round(float(np.abs(x).max()), 2)
    ((3200,), 1.0)
    """
    return fade(_unit_peak(rng.standard_normal(num_samples(seconds, sample_rate))), sample_rate=sample_rate)


def chirp(start_hz, end_hz, seconds, sample_rate=SAMPLE_RATE):
    """An exponential sine sweep from ``start_hz`` to ``end_hz``, peak 1, faded edges.

    Example
    -------
    >>> chirp(400.0, 2000.0, 0.3).shape
    (4800,)
    """
    time = np.arange(num_samples(seconds, sample_rate)) / sample_rate
    rate = np.log(end_hz / start_hz) / seconds
    phase = 2 * np.pi * start_hz * (np.exp(rate * time) - 1) / rate
    return fade(np.sin(phase), sample_rate=sample_rate)


def beeps(count, frequency, beep_seconds=0.12, gap_seconds=0.2, sample_rate=SAMPLE_RATE):
    """``count`` tone beeps at ``frequency`` Hz separated by ``gap_seconds`` of silence.

    Example
    -------
    >>> beeps(3, 1000.0, beep_seconds=0.1, gap_seconds=0.1).shape  # 3 beeps + 2 gaps = 0.5 s
    (8000,)
    """
    beep = tone(frequency, beep_seconds, sample_rate=sample_rate)
    return sequence([beep] * count, gap_seconds, sample_rate)


def sequence(parts, gap_seconds, sample_rate=SAMPLE_RATE):
    """Concatenate ``parts`` with ``gap_seconds`` of silence between consecutive parts.

    Example
    -------
    >>> sequence([np.ones(10), np.ones(10)], gap_seconds=0.001).shape
    (36,)
    """
    gap = silence(gap_seconds, sample_rate)
    pieces = []
    for i, part in enumerate(parts):
        if i:
            pieces.append(gap)
        pieces.append(np.asarray(part, dtype=np.float32))
    return np.concatenate(pieces)


def loudness_ramp(signal, louder, range_db=30.0):
    """``signal`` with a gain moving linearly in dB over ``range_db``: up when ``louder``, else down.

    Example
    -------
    >>> x = loudness_ramp(np.ones(100, dtype=np.float32), louder=True)
    >>> bool(x[-1] > 10 * x[0])
    True
    """
    gain_db = np.linspace(-range_db, 0.0, len(signal))
    if not louder:
        gain_db = gain_db[::-1]
    return (signal * 10 ** (gain_db / 20)).astype(np.float32)


def midi_to_hz(midi):
    """Frequency of a MIDI note number (69 = A4 = 440 Hz).

    Example
    -------
    >>> midi_to_hz(69), round(midi_to_hz(60), 2)
    (440.0, 261.63)
    """
    return 440.0 * 2 ** ((midi - 69) / 12)


NOTE_HARMONICS = (1.0, 0.5, 0.3, 0.15)  # a soft organ-like timbre for melodies and chords


def note(midi, seconds, sample_rate=SAMPLE_RATE):
    """A musical note: harmonic tone with an exponential decay.

    Example
    -------
    >>> x = note(60, 0.3)
    >>> bool(np.abs(x[:1000]).max() > np.abs(x[-1000:]).max())
    True
    """
    wave = tone(midi_to_hz(midi), seconds, NOTE_HARMONICS, sample_rate)
    decay = np.exp(-2.0 * np.arange(len(wave)) / sample_rate)
    return (wave * decay).astype(np.float32)


def melody(midi_notes, note_seconds, sample_rate=SAMPLE_RATE):
    """Notes played one after another, each ``note_seconds`` long (legato, no gaps).

    Example
    -------
    >>> melody([60, 62, 64], 0.2).shape
    (9600,)
    """
    return np.concatenate([note(m, note_seconds, sample_rate) for m in midi_notes])


CHORD_INTERVALS = {"major": (0, 4, 7), "minor": (0, 3, 7)}  # semitones above the root


def chord(root_midi, quality, seconds, sample_rate=SAMPLE_RATE):
    """A triad (``"major"`` or ``"minor"``) on ``root_midi``, all notes sounding together.

    Example
    -------
    >>> chord(60, "minor", 1.0).shape
    (16000,)
    """
    notes = [note(root_midi + i, seconds, sample_rate) for i in CHORD_INTERVALS[quality]]
    return _unit_peak(sum(notes))


def finish(
    signal, rng, peak_range=(0.3, 0.9), noise_db=-45.0, pad_range=(0.05, 0.2), min_seconds=0.5, sample_rate=SAMPLE_RATE
):
    """Random lead/tail silence, random peak level and a faint noise floor: the clip as written.

    The noise floor makes every clip unique (no two clips are the same file) and the random level
    keeps absolute loudness from giving answers away.

    Arguments
    ---------
    signal : numpy.ndarray
        The clean clip.
    rng : numpy.random.Generator
        Source of the random choices.
    peak_range : tuple of float
        Range of the peak amplitude.
    noise_db : float
        Noise floor relative to the peak, in dB.
    pad_range : tuple of float
        Range of the lead and tail silence, in seconds.
    min_seconds : float
        Shorter clips get a longer tail.

    Example
    -------
    >>> x = finish(np.ones(1600, dtype=np.float32), np.random.default_rng(0))
    >>> len(x) / SAMPLE_RATE, bool(np.abs(x).max() <= 0.91)
    (0.5, True)
    """
    lead, tail = (silence(rng.uniform(*pad_range), sample_rate) for _ in range(2))
    missing = num_samples(min_seconds, sample_rate) - len(lead) - len(signal) - len(tail)
    if missing > 0:
        tail = np.concatenate([tail, np.zeros(missing, dtype=np.float32)])
    peak = rng.uniform(*peak_range)
    clip = np.concatenate([lead, _unit_peak(signal) * peak, tail])
    floor = rng.standard_normal(len(clip)) * peak * 10 ** (noise_db / 20)
    return np.clip(clip + floor, -1.0, 1.0).astype(np.float32)


def _unit_peak(wave):
    """``wave`` scaled to peak 1 (silence stays silent)."""
    wave = np.asarray(wave, dtype=np.float32)
    peak = float(np.abs(wave).max()) if len(wave) else 0.0
    return wave / peak if peak > 0 else wave
