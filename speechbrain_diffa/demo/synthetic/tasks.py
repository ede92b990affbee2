"""Question types of the synthetic corpus: the question, its answers, and how each is phrased.

Every :class:`QuestionType` asks about one scene property (see
:mod:`speechbrain_diffa.demo.synthetic.scenes`), so its answer is an easily audible fact. Each is asked
three ways:

* open (stages 2-3): the question, answered with a short phrase (``"three beeps"``);
* multiple choice (stages 2-3 and the held-out test): formatted exactly as the evaluation harness
  prompts MMAU (:func:`format_mcq`), answered with the option text (``"three"``);
* preference (stage 4): the open question, ``chosen`` the right phrase and ``rejected`` a subtly
  wrong one (a neighbouring count, the swapped order, the other pitch).

Authors
 * speechbrain_diffa contributors 2026
"""

from dataclasses import dataclass, field

from speechbrain_diffa.demo.synthetic import scenes as sc
from speechbrain_diffa.prompts import ASR_PROMPT, MMAU_PROMPT, build_prompt

CAPTION_PROMPT = "What can you hear from the audio?"
TRANSCRIBE_PROMPT = ASR_PROMPT  # the harness's LibriSpeech prompt


@dataclass(frozen=True)
class QuestionType:
    """One kind of question about one scene property.

    Attributes
    ----------
    name : str
        Identifier (used in record ids and ``question_type`` fields).
    task : str
        MMAU task: ``"sound"``, ``"music"`` or ``"speech"``.
    scenes : tuple of str
        Scenes it is asked about; the held-out test uses the first.
    prop : str
        The scene property that is the answer.
    values : tuple of str
        All answers (in a natural order; ``ordered`` ones are neighbours for subtle errors).
    question : str
        The question text.
    phrase : str
        Open answer template, ``{}`` is the value (or a dict value -> phrase).
    category, sub_category, difficulty : str
        MMAU fields.
    num_choices : int
        Options per multiple-choice question (None: all values).
    ordered : bool
        Values form a scale (a subtle error is a neighbour).
    requires : dict
        Properties the test clip must have (e.g. ``{"kind": "digits"}``).
    distractor_prop : str
        Property holding the natural wrong answer (e.g. the event that comes second).

    Example
    -------
    >>> count = QUESTION_TYPES_BY_NAME["beep_count"]
    >>> count.chance, count.applies_to("beeps", {"count": "two"}), count.phrase_for("two")
    (0.25, True, 'two beeps')
    """

    name: str
    task: str
    scenes: tuple
    prop: str
    values: tuple
    question: str
    phrase: object
    category: str
    sub_category: str
    difficulty: str
    num_choices: int = None
    ordered: bool = False
    requires: dict = field(default_factory=dict)
    distractor_prop: str = None

    @property
    def chance(self):
        """Accuracy of a random guess among the options."""
        return 1.0 / (self.num_choices or len(self.values))

    def applies_to(self, scene, props):
        """Whether this question can be asked about a clip of ``scene`` with ``props``."""
        return scene in self.scenes and self.prop in props

    def phrase_for(self, value):
        """The open answer stating ``value``."""
        return self.phrase[value] if isinstance(self.phrase, dict) else self.phrase.format(value)


_INFO, _REASON = "Information Extraction", "Reasoning"
QUESTION_TYPES = (
    QuestionType("beep_count", "sound", ("beeps",), "count", sc.COUNTS, "How many beeps are there?",
                 {"one": "one beep", "two": "two beeps", "three": "three beeps", "four": "four beeps"},
                 _REASON, "Counting", "medium", ordered=True),
    QuestionType("pitch_level", "sound", ("beeps", "ramp"), "pitch", sc.PITCHES,
                 "Is the sound high or low in pitch?", "a {} pitch", _INFO, "Pitch", "easy"),
    QuestionType("loudness_change", "sound", ("ramp",), "loudness", sc.LOUDNESS,
                 "Is the sound getting louder or quieter?", "getting {}", _INFO, "Loudness", "easy"),
    QuestionType("tone_or_noise", "sound", ("ramp",), "source", sc.SOURCES, "Is it a tone or noise?",
                 {"tone": "a tone", "noise": "noise"}, _INFO, "Sound Source", "easy"),
    QuestionType("event_order", "sound", ("sequence",), "first", sc.EVENTS, "Which sound comes first?",
                 "the {} comes first", _REASON, "Temporal Order", "medium", distractor_prop="second"),
    QuestionType("melody_direction", "music", ("melody",), "direction", sc.DIRECTIONS,
                 "Is the melody rising or falling?", "a {} melody", _INFO, "Melody Contour", "easy"),
    QuestionType("tempo", "music", ("melody",), "tempo", sc.TEMPOS, "Is the tempo fast or slow?",
                 "a {} tempo", _INFO, "Tempo", "easy"),
    QuestionType("chord_quality", "music", ("chord",), "quality", sc.QUALITIES,
                 "Is the chord major or minor?", "a {} chord", _REASON, "Harmony", "hard"),
    QuestionType("speaker_gender", "speech", ("speech",), "gender", sc.GENDERS,
                 "Who is speaking, a man or a woman?", "a {} is speaking", _INFO, "Speaker Gender", "easy"),
    QuestionType("speaking_rate", "speech", ("speech",), "rate", sc.RATES, "Is the speech fast or slow?",
                 "{} speech", _INFO, "Speaking Rate", "easy"),
    QuestionType("first_number", "speech", ("speech",), "number", sc.DIGITS,
                 "What is the first number spoken?", "the first number is {}", _INFO, "Content", "medium",
                 num_choices=4, ordered=True, requires={"kind": "digits"}),
    QuestionType("animal", "speech", ("speech",), "animal", sc.ANIMALS, "Which animal is mentioned?",
                 "the {}", _INFO, "Content", "medium", requires={"kind": "sentence"}),
)  # fmt: skip
QUESTION_TYPES_BY_NAME = {q.name: q for q in QUESTION_TYPES}
TASKS = ("sound", "music", "speech")


def select_question_types(names=None):
    """The question types named (all by default), checked, in table order.

    Example
    -------
    >>> [q.name for q in select_question_types(["tempo", "beep_count"])]
    ['beep_count', 'tempo']
    """
    if names is None:
        return QUESTION_TYPES
    unknown = sorted(set(names) - set(QUESTION_TYPES_BY_NAME))
    if unknown:
        raise ValueError(f"Unknown question types {unknown}; expected some of {list(QUESTION_TYPES_BY_NAME)}")
    return tuple(q for q in QUESTION_TYPES if q.name in names)


def format_mcq(question, choices):
    """A multiple-choice question exactly as the evaluation harness prompts MMAU.

    Example
    -------
    >>> print(format_mcq("Is the tempo fast or slow?", ["slow", "fast"]).splitlines()[-3:])
    ['A. slow', 'B. fast', 'Answer:']
    """
    return build_prompt(MMAU_PROMPT, question, choices)


def mcq_choices(qtype, answer, rng):
    """The options of one multiple-choice question, shuffled, ``answer`` among them.

    Example
    -------
    >>> import numpy as np
    >>> choices = mcq_choices(QUESTION_TYPES_BY_NAME["first_number"], "seven", np.random.default_rng(0))
    >>> len(choices), "seven" in choices
    (4, True)
    """
    others = [v for v in qtype.values if v != answer]
    keep = (qtype.num_choices or len(qtype.values)) - 1
    picked = [answer] + [others[i] for i in sorted(rng.choice(len(others), size=keep, replace=False))]
    return [picked[i] for i in rng.permutation(len(picked))]


def wrong_value(qtype, props, rng):
    """A plausible but wrong answer: the natural distractor, a neighbour on a scale, or another value.

    Example
    -------
    >>> import numpy as np
    >>> wrong_value(QUESTION_TYPES_BY_NAME["beep_count"], {"count": "one"}, np.random.default_rng(0))
    'two'
    >>> wrong_value(QUESTION_TYPES_BY_NAME["event_order"], {"first": "beep", "second": "chirp"}, None)
    'chirp'
    """
    answer = props[qtype.prop]
    if qtype.distractor_prop:
        return props[qtype.distractor_prop]
    if qtype.ordered:
        index = qtype.values.index(answer)
        neighbours = [qtype.values[i] for i in (index - 1, index + 1) if 0 <= i < len(qtype.values)]
        return str(rng.choice(neighbours))
    return str(rng.choice([v for v in qtype.values if v != answer]))


def corpus_text(question_types=None):
    """Every string the corpus can contain (prompts, questions, options, answers, transcripts).

    Meant for training the demo's tokenizer: the lines cover the whole vocabulary, whatever the
    seed or size.

    Example
    -------
    >>> text = corpus_text()
    >>> "How many beeps are there?" in text and "the fox sleeps" in text and "Answer:" in text
    True
    """
    lines = [TRANSCRIBE_PROMPT, CAPTION_PROMPT]
    for qtype in select_question_types(question_types):
        lines.append(qtype.question)
        lines.append(format_mcq(qtype.question, list(qtype.values)))
        lines.extend(qtype.phrase_for(v) for v in qtype.values)
    lines.extend(sc.DIGITS)
    lines.extend(f"the {a} {v}" for a in sc.ANIMALS for v in sc.VERBS)
    lines.extend(f"{c} {p} beep{'' if c == 'one' else 's'}" for c in sc.COUNTS for p in sc.PITCHES)
    lines.extend(f"a {p} tone getting {d}" for p in sc.PITCHES for d in sc.LOUDNESS)
    lines.extend(f"noise getting {d}" for d in sc.LOUDNESS)
    lines.extend(sc.caption("sequence", {"first": a, "second": b}) for a in sc.EVENTS for b in sc.EVENTS if a != b)
    lines.extend(f"a {t} {d} melody" for t in sc.TEMPOS for d in sc.DIRECTIONS)
    lines.extend(f"a {q} chord" for q in sc.QUALITIES)
    return "\n".join(lines) + "\n"
