"""Answer scorers that agree with the official MMAU, MMAR and MMSU scripts, plus WER normalisation.

The rules (read from Sakshi113/MMAU ``evaluation.py`` @ 110127f, ddlBoJack/MMAR
``code/evaluation.py`` @ 3bce090 and dingdongwang/MMSU ``mmsu_evaluation.py`` @ 217d1d3):

* **MMAU / MMAR** (:func:`mmau_match`): the lowercased prediction, answer and options are cut into
  sets of ``\\w+`` words (Unicode-aware). Correct when every answer word is in the prediction and
  the prediction has no word that belongs only to wrong options; an option with the same word
  set as the answer is ignored. A prediction without words is wrong.
* **MMSU** (:func:`mmsu_letter`): strip, drop ``\\n``; the literal ``"None"`` is no answer; the
  first character if it is A-D, else the second-to-last if it is A-D, else no letter.

Three reporting modes (:data:`MODES`), all computed for every report:

* ``official``: what the official script prints when run on the model's raw outputs. MMAU/MMAR
  skip items without a prediction; MMSU skips non-empty responses it cannot read (empty or
  ``"None"`` count as wrong).
* ``strict``: the same rules on the raw outputs, but every item counts; missing or unreadable
  predictions are wrong.
* ``letter-mapped``: ``strict``, after a bare letter (``"B"``, ``"B."``, ``"(B)"``) or ``"B. <text
  of B>"`` is mapped to its option's text (:func:`letter_to_choice`); the official match scores a
  bare letter as wrong even when it is the right option. For MMSU, which reads letters, it equals
  ``strict``.

Authors
 * speechbrain_diffa contributors 2026
"""

import re
import string

# Bump when a scoring rule changes; recorded in every report.
SCORER_VERSION = "2.0"  # 2.0: official and strict score raw outputs; letter mapping is its own mode
OFFICIAL_SOURCES = {
    "mmau": "Sakshi113/MMAU evaluation.py @ 110127f",
    "mmar": "ddlBoJack/MMAR code/evaluation.py @ 3bce090",
    "mmsu": "dingdongwang/MMSU mmsu_evaluation.py @ 217d1d3",
}
MODES = ("official", "strict", "letter-mapped")
MODE_MEANINGS = {
    "official": "the official script's rule on the raw outputs, with its skips",
    "strict": "the official rule on the raw outputs; every item counts (missing or unreadable = wrong)",
    "letter-mapped": "strict, after mapping a bare option letter to its option's text",
}
MMSU_LETTERS = "ABCD"

_WORD = re.compile(r"\w+")
_BARE_LETTER = re.compile(r"^\s*[\(\[]?\s*([A-Za-z])\s*[\)\]]?\s*[.:)]?\s*$")
_LETTER_PREFIX = re.compile(r"^\s*[\(\[]?([A-Z])[\)\]]?[.:)]?\s+(.*\S)\s*$", re.DOTALL)
_NOT_WORD_CHAR = re.compile(r"[^\w' ]+")


def mmau_words(text):
    """The set of lowercased ``\\w+`` words of ``text``, as the MMAU/MMAR matcher sees it.

    Example
    -------
    >>> sorted(mmau_words("A high-pitched Café, don't!"))
    ['a', 'café', 'don', 'high', 'pitched', 't']
    """
    return set(_WORD.findall(text.lower()))


def mmau_match(prediction, choices, answer):
    """The official MMAU test-mini string match (also MMAR's), exactly.

    Arguments
    ---------
    prediction : str
        The model output (already letter-mapped if wanted, see :func:`letter_to_choice`).
    choices : list of str
        All options, the answer included.
    answer : str
        The text of the correct option.

    Returns
    -------
    bool

    Example
    -------
    >>> choices = ["Man", "Woman", "Child", "A robot"]
    >>> mmau_match("The speaker is a man.", choices, "Man")
    False
    >>> mmau_match("man", choices, "Man"), mmau_match("B", choices, "Woman")
    (True, False)
    """
    predicted = mmau_words(prediction)
    if not predicted:
        return False
    wanted = mmau_words(answer)
    forbidden = set()
    for choice in choices:
        words = mmau_words(choice)
        if words != wanted:
            forbidden |= words - wanted
    return wanted <= predicted and not (predicted & forbidden)


def _mmsu_clean(prediction):
    """The official MMSU pre-processing: strip, then drop ``\\n`` (not ``\\r``)."""
    return prediction.strip().replace("\n", "")


def mmsu_letter(prediction):
    """The official MMSU answer extraction: a letter in A-D, or None.

    Example
    -------
    >>> [mmsu_letter(p) for p in ["B", " C. Paris\\n", "The answer is D.", "Answer: C", "None", "e"]]
    ['B', 'C', 'D', 'A', None, None]
    """
    text = _mmsu_clean(prediction)
    if not text or text == "None":
        return None
    if text[0] in MMSU_LETTERS:
        return text[0]
    if len(text) > 1 and text[-2] in MMSU_LETTERS:
        return text[-2]
    return None


def mmsu_is_blank(prediction):
    """True for a response the official MMSU script counts as wrong rather than skipping.

    Example
    -------
    >>> mmsu_is_blank("  \\n"), mmsu_is_blank("None"), mmsu_is_blank("xyz")
    (True, True, False)
    """
    text = _mmsu_clean(prediction)
    return not text or text == "None"


def letter_to_choice(prediction, choices):
    """Map a bare option letter to that option's text; anything else is returned unchanged.

    ``"B"``, ``"b"``, ``"B."``, ``"(B)"``, ``"B)"``, ``"[B]"`` become ``choices[1]``; so does
    ``"B. <text of option B>"`` (DIFFA's echo style, which the official match can fail when another
    option contains the word "b"). A letter beyond the options, or a prefix whose text is not that
    option's, is left as it is; so is a letter when some option is that letter itself ("B" among
    note names).

    Example
    -------
    >>> choices = ["dog barking", "a cat", "rain"]
    >>> [letter_to_choice(p, choices) for p in ["B", "(c).", "A. dog barking", "A. rain", "D"]]
    ['a cat', 'rain', 'dog barking', 'A. rain', 'D']
    >>> letter_to_choice("B", ["C", "B", "A"])
    'B'
    """
    bare = _BARE_LETTER.match(prediction)
    if bare:
        letter = bare.group(1).upper()
        if any(mmau_words(c) == {letter.lower()} for c in choices):
            return prediction  # options that are letters themselves (e.g. note names)
        index = string.ascii_uppercase.find(letter)
        return choices[index] if index < len(choices) else prediction
    prefixed = _LETTER_PREFIX.match(prediction)
    if prefixed:
        index = string.ascii_uppercase.find(prefixed.group(1))
        text = " ".join(prefixed.group(2).split()).rstrip(".")
        if index < len(choices) and text.lower() == " ".join(choices[index].split()).lower():
            return choices[index]
    return prediction


def normalize_transcript(text):
    """LibriSpeech-style normalisation for WER: uppercase, punctuation (except ``'``) removed.

    The DIFFA-2 scripts strip markers and score with WeNet's ``compute-wer.py``; our references
    (LibriSpeech) are uppercase without punctuation, so hypotheses are brought to that form.
    (No Whisper-style spelling normalisation: the reference notes do not call for it.)

    Example
    -------
    >>> normalize_transcript("Hello, world -- it's  me!")
    "HELLO WORLD IT'S ME"
    """
    return " ".join(_NOT_WORD_CHAR.sub(" ", text.upper()).replace("_", " ").split())
