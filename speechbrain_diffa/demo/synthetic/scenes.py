"""Scenes: what one synthetic clip contains (its properties) and how it is rendered.

A scene is a kind of clip (``beeps``, ``ramp``, ``sequence``, ``melody``, ``chord``,
``speech``); its *properties* are the discrete facts the questions ask about (``count``,
``pitch``, ``loudness``, ...). :func:`sample_properties` draws them balanced (every value equally
often, see :class:`BalancedDraws`); :func:`render` turns them into a waveform, with the
continuous details (frequencies, durations, voices) drawn from the clip's own generator.

Authors
 * speechbrain_diffa contributors 2026
"""

import numpy as np  # noqa: F401 (the doctests draw with np.random)

from speechbrain_diffa.demo.synthetic import sounds
from speechbrain_diffa.demo.synthetic.speech import Voice

COUNTS = ("one", "two", "three", "four")
PITCHES = ("high", "low")
SOURCES = ("tone", "noise")
LOUDNESS = ("louder", "quieter")
EVENTS = ("beep", "noise", "chirp")
DIRECTIONS = ("rising", "falling")
TEMPOS = ("fast", "slow")
QUALITIES = ("major", "minor")
GENDERS = ("man", "woman")
RATES = ("fast", "slow")
KINDS = ("digits", "sentence")
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ANIMALS = ("cat", "dog", "bird", "fox")
VERBS = ("runs", "sleeps", "jumps", "sings")

SCENES = ("beeps", "ramp", "sequence", "melody", "chord", "speech")
SCENE_TASKS = {"beeps": "sound", "ramp": "sound", "sequence": "sound", "melody": "music", "chord": "music",
               "speech": "speech"}  # fmt: skip

# Continuous ranges (Hz, seconds, espeak-ng units). Far apart on purpose: a tiny model must hear them.
PITCH_HZ = {"high": (1500.0, 2500.0), "low": (200.0, 400.0)}
TEMPO_NOTE_SECONDS = {"fast": (0.11, 0.15), "slow": (0.35, 0.45)}
VOICE_VARIANTS = {"man": ("m1", "m2", "m3", "m4"), "woman": ("f1", "f2", "f3", "f4")}
VOICE_PITCH = {"man": (20, 45), "woman": (55, 85)}
RATE_WPM = {"fast": (220, 260), "slow": (110, 135)}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)  # semitones of one octave's degrees
SLOW_MELODY_NOTES = 5  # a slow melody's notes; a fast one fits more into the same length


class BalancedDraws:
    """Draws values so that each one comes equally often: shuffled rounds through ``values``.

    One queue per ``key``, so separate properties are balanced separately.

    Example
    -------
    >>> draws = BalancedDraws(np.random.default_rng(0))
    >>> sorted(draws.draw("pitch", PITCHES) for _ in range(4))
    ['high', 'high', 'low', 'low']
    """

    def __init__(self, rng):
        self.rng = rng
        self.queues = {}

    def draw(self, key, values):
        """The next value for ``key`` (a new shuffled round of ``values`` when the last is used up)."""
        queue = self.queues.setdefault(key, [])
        if not queue:
            queue.extend(values[i] for i in self.rng.permutation(len(values)))
        return queue.pop()


def sample_properties(scene, draws, rng, fixed=None):
    """The discrete properties of one clip of ``scene``; ``fixed`` ones are kept as given.

    Arguments
    ---------
    scene : str
        One of :data:`SCENES`.
    draws : BalancedDraws
        Balanced source of the properties (one queue per scene and property).
    rng : numpy.random.Generator
        For the details that need no balance (extra digits, the verb, the second event).
    fixed : dict
        Properties to force (the held-out test fixes the asked one).

    Returns
    -------
    dict
        Includes ``text`` (the transcript) for speech.

    Example
    -------
    >>> draws, rng = BalancedDraws(np.random.default_rng(0)), np.random.default_rng(1)
    >>> sorted(sample_properties("beeps", draws, rng, fixed={"count": "three"}).items())
    [('count', 'three'), ('pitch', 'low')]
    >>> sample_properties("speech", draws, rng, fixed={"animal": "fox"})["text"][:7]
    'the fox'
    """
    if scene not in SCENES:
        raise ValueError(f"Unknown scene {scene!r}; expected one of {SCENES}")
    props = dict(fixed or {})

    def take(name, values):
        """The scene's value for property ``name`` (drawn from ``values`` on first use)."""
        if name not in props:
            props[name] = draws.draw((scene, name), values)
        return props[name]

    if scene == "beeps":
        take("count", COUNTS)
        take("pitch", PITCHES)
    elif scene == "ramp":
        take("loudness", LOUDNESS)
        if take("source", SOURCES) == "tone":
            take("pitch", PITCHES)
    elif scene == "sequence":
        first = take("first", EVENTS)
        props.setdefault("second", str(rng.choice([e for e in EVENTS if e != first])))
    elif scene == "melody":
        take("direction", DIRECTIONS)
        take("tempo", TEMPOS)
    elif scene == "chord":
        take("quality", QUALITIES)
    else:
        _sample_speech(props, take, rng)
    return props


def _sample_speech(props, take, rng):
    """Speech properties and transcript: digit strings or ``"the <animal> <verb>"``."""
    take("gender", GENDERS)
    take("rate", RATES)
    if "number" in props or "animal" in props:  # a fixed answer decides what is said
        props.setdefault("kind", "digits" if "number" in props else "sentence")
    if take("kind", KINDS) == "digits":
        first = take("number", DIGITS)
        extra = [str(d) for d in rng.choice(DIGITS, size=int(rng.integers(0, 3)))]
        props["text"] = " ".join([first] + extra)
    else:
        props["text"] = f"the {take('animal', ANIMALS)} {rng.choice(VERBS)}"


def caption(scene, props):
    """A short description of the clip (the stage 1 target for non-speech clips).

    Example
    -------
    >>> caption("beeps", {"count": "one", "pitch": "low"})
    'one low beep'
    >>> caption("ramp", {"source": "noise", "loudness": "quieter"})
    'noise getting quieter'
    """
    if scene == "beeps":
        return f"{props['count']} {props['pitch']} beep{'' if props['count'] == 'one' else 's'}"
    if scene == "ramp":
        source = f"a {props['pitch']} tone" if props["source"] == "tone" else "noise"
        return f"{source} getting {props['loudness']}"
    if scene == "sequence":
        return f"{_event_name(props['first'])} then {_event_name(props['second'])}"
    if scene == "melody":
        return f"a {props['tempo']} {props['direction']} melody"
    if scene == "chord":
        return f"a {props['quality']} chord"
    return props["text"]


def _event_name(event):
    """``"a beep"``, ``"a chirp"``, ``"noise"``."""
    return event if event == "noise" else f"a {event}"


def render(scene, props, rng, speak):
    """The finished waveform of one clip (16 kHz mono float32, 0.5-3 s).

    Arguments
    ---------
    scene : str
        One of :data:`SCENES`.
    props : dict
        From :func:`sample_properties`.
    rng : numpy.random.Generator
        The clip's own generator (frequencies, durations, voice, level, noise floor).
    speak : callable
        ``speak(text, voice) -> waveform`` (see :func:`speechbrain_diffa.demo.synthetic.speech.speech_engine`).

    Example
    -------
    >>> x = render("chord", {"quality": "major"}, np.random.default_rng(0), speak=None)
    >>> 1.0 < len(x) / sounds.SAMPLE_RATE < 2.0
    True
    """
    if scene == "speech":
        clean = speak(props["text"], speech_voice(props, rng))
    else:
        clean = RENDERERS[scene](props, rng)
    return sounds.finish(clean, rng)


def speech_voice(props, rng):
    """A random :class:`Voice` of the clip's gender and rate.

    Example
    -------
    >>> speech_voice({"gender": "woman", "rate": "slow"}, np.random.default_rng(0)).variant[0]
    'f'
    """
    gender, rate = props["gender"], props["rate"]
    variant = str(rng.choice(VOICE_VARIANTS[gender]))
    pitch = int(rng.integers(VOICE_PITCH[gender][0], VOICE_PITCH[gender][1] + 1))
    words_per_minute = int(rng.integers(RATE_WPM[rate][0], RATE_WPM[rate][1] + 1))
    return Voice(gender, variant, pitch, words_per_minute)


def _beeps(props, rng):
    """``count`` beeps, all at one high or low frequency."""
    frequency = rng.uniform(*PITCH_HZ[props["pitch"]])
    count = COUNTS.index(props["count"]) + 1
    return sounds.beeps(count, frequency, rng.uniform(0.1, 0.15), rng.uniform(0.15, 0.25))


def _ramp(props, rng):
    """A tone or noise whose level rises or falls 30 dB."""
    seconds = rng.uniform(1.0, 1.5)
    if props["source"] == "tone":
        signal = sounds.tone(rng.uniform(*PITCH_HZ[props["pitch"]]), seconds)
    else:
        signal = sounds.noise_burst(seconds, rng)
    return sounds.loudness_ramp(signal, louder=props["loudness"] == "louder")


def _sequence(props, rng):
    """Two different events (beep, noise burst, chirp) one after the other."""
    events = [_event(props["first"], rng), _event(props["second"], rng)]
    return sounds.sequence(events, rng.uniform(0.15, 0.3))


def _event(kind, rng):
    """One 0.3-0.4 s event of ``kind``."""
    seconds = rng.uniform(0.3, 0.4)
    if kind == "beep":
        return sounds.tone(rng.uniform(600.0, 1200.0), seconds)
    if kind == "noise":
        return sounds.noise_burst(seconds, rng)
    low, high = rng.uniform(300.0, 500.0), rng.uniform(2000.0, 3000.0)
    return sounds.chirp(*((low, high) if rng.random() < 0.5 else (high, low)), seconds)


def _melody(props, rng):
    """Consecutive major-scale notes going up or down: five slow ones, or as many fast ones as fit.

    Both tempos last the same (five slow notes' worth, 1.75-2.25 s), so tempo is heard in the note
    rate, not given away by the clip's length.
    """
    seconds = SLOW_MELODY_NOTES * rng.uniform(*TEMPO_NOTE_SECONDS["slow"])
    note_seconds = rng.uniform(*TEMPO_NOTE_SECONDS[props["tempo"]])
    count = max(SLOW_MELODY_NOTES, round(seconds / note_seconds))
    start = int(rng.integers(0, len(MAJOR_SCALE)))
    root = int(rng.integers(57, 70))
    notes = [root + _scale_semitones(start + i) - _scale_semitones(start) for i in range(count)]
    if props["direction"] == "falling":
        notes = notes[::-1]
    return sounds.melody(notes, seconds / count)


def _scale_semitones(degree):
    """Semitones above the tonic of a major-scale degree (degree 7 is the octave)."""
    return 12 * (degree // len(MAJOR_SCALE)) + MAJOR_SCALE[degree % len(MAJOR_SCALE)]


def _chord(props, rng):
    """A major or minor triad on a random root."""
    return sounds.chord(int(rng.integers(52, 65)), props["quality"], rng.uniform(1.0, 1.5))


RENDERERS = {"beeps": _beeps, "ramp": _ramp, "sequence": _sequence, "melody": _melody, "chord": _chord}
