"""Scorers: hand-built cases, and an outside check against re-statements of the official scripts.

The ``official_*`` functions below restate, step by step, the logic of the official scripts as
published (Sakshi113/MMAU ``evaluation.py`` @ 110127f ``string_match``, identical in
ddlBoJack/MMAR ``code/evaluation.py`` @ 3bce090; dingdongwang/MMSU ``mmsu_evaluation.py`` @
217d1d3, the loop body of ``calculate_accuracy_per_task_and_category``). They are the comparison
target; the library's versions are written differently and must agree on every input.
"""

import random
import re

import pytest

from speechbrain_diffa.evaluation.benchmarks import Item
from speechbrain_diffa.evaluation.report import score_item
from speechbrain_diffa.evaluation.scoring import (
    letter_to_choice,
    mmau_match,
    mmsu_is_blank,
    mmsu_letter,
    normalize_transcript,
)

# ---- Re-statements of the official scripts (the comparison target) -------------------------------


def official_string_match(answer, prediction, choices):
    """MMAU/MMAR ``string_match(answer, prediction, choices)``, as in the official script."""

    def tokenize(text):
        return set(re.findall(r"\b\w+\b", text.lower()))

    prediction_tokens = tokenize(prediction)
    answer_tokens = tokenize(answer)
    if not prediction_tokens:
        return False
    incorrect_tokens = set()
    for choice in choices:
        choice_tokens = tokenize(choice)
        if choice_tokens != answer_tokens:
            incorrect_tokens.update(choice_tokens - answer_tokens)
    cond1 = answer_tokens.issubset(prediction_tokens)
    cond2 = prediction_tokens.isdisjoint(incorrect_tokens)
    return cond1 and cond2


def official_mmsu_record(response, choices, answer_gt):
    """One record of the official MMSU loop: ``"skip"``, ``"correct"`` or ``"wrong"``."""
    model_predict = None
    try:
        predict = response.strip().replace("\n", "")
    except AttributeError:
        return "skip"
    if predict != "None" and predict:
        if predict[0] == "A" or predict[0] == "B" or predict[0] == "C" or predict[0] == "D":
            model_predict = predict[0]
        elif len(predict) > 1:
            if predict[-2] == "A" or predict[-2] == "B" or predict[-2] == "C" or predict[-2] == "D":
                model_predict = predict[-2]
            else:
                return "skip"
        else:
            return "skip"
    named = dict(zip("ABCD", choices + [""] * (4 - len(choices))))
    if model_predict and named[model_predict] == answer_gt:
        return "correct"
    return "wrong"


def official_mmsu_letter(response):
    """The letter the official loop reads (None when it reads none)."""
    predict = response.strip().replace("\n", "")
    if predict != "None" and predict:
        if predict[0] in ("A", "B", "C", "D"):
            return predict[0]
        if len(predict) > 1 and predict[-2] in ("A", "B", "C", "D"):
            return predict[-2]
    return None


# ---- Randomised predictions from templates ---------------------------------------------------------

OPTION_POOL = [
    ["Man", "Woman", "Child", "A robot"],
    ["dog barking", "a dog and a cat", "rain", "B flat"],
    ["high-pitched", "low-pitched", "don't know", "it's high"],
    ["café", "CAFÉ crowd", "naïve", "Ünïcode test"],
    ["1", "2", "3", "4", "5", "6", "7", "8"],
    ["yes", "no"],
    ["C", "B", "A", "D", "E"],
    ["", "silence", "The sound of silence"],
    ["the answer", "answer", "The Answer", "none of the above"],
    ["Ｆｕｌｌｗｉｄｔｈ", "İstanbul", "straße", "STRASSE"],
]
TEMPLATES = [
    "{text}",
    "{L}",
    "{L}.",
    "({L})",
    "{L}. {text}",
    "({L}) {text}",
    "The answer is {L}.",
    "The answer is {text}.",
    "Answer: {L}",
    "{text} or {other}",
    "I think it is {text}, not {other}.",
    "{TEXT}",
    "  {text}\n",
    "{text}!!!",
    "",
    "None",
    "   ",
    "\n{L}\n",
    "{l}",
    "{text} 🎵",
    "{L}\r\n{text}",
    "It is {other}.",
    "All of the above",
    "{L}{L}",
    "Choice {L})",
]


def random_case(rng):
    """A (prediction, choices, answer) triple from the templates, with random perturbations."""
    choices = list(rng.choice(OPTION_POOL))
    rng.shuffle(choices)
    index = rng.randrange(len(choices))
    other = choices[rng.randrange(len(choices))]
    answer = choices[index] if rng.random() < 0.95 else rng.choice(["", "dog", "woman"])
    pick = index if rng.random() < 0.7 else rng.randrange(len(choices))
    letter = "ABCDEFGH"[pick]
    text = choices[pick]
    if rng.random() < 0.2:
        text = text.upper() if rng.random() < 0.5 else text.swapcase()
    prediction = rng.choice(TEMPLATES).format(L=letter, l=letter.lower(), text=text, TEXT=text.upper(), other=other)
    if rng.random() < 0.1:
        prediction = prediction + rng.choice([" ", ".", "\n", "\t", " extra words", " A", " b"])
    if rng.random() < 0.05:
        prediction = "".join(rng.sample(prediction, len(prediction)))
    return prediction, choices, answer


CASES = [random_case(random.Random(seed)) for seed in range(4000)]


def test_mmau_match_agrees_with_official_on_random_outputs():
    disagree = [(p, c, a) for p, c, a in CASES if mmau_match(p, c, a) != official_string_match(a, p, c)]
    assert not disagree, disagree[:5]
    # The sample exercises both outcomes, not just one.
    outcomes = {official_string_match(a, p, c) for p, c, a in CASES}
    assert outcomes == {True, False}


def test_mmsu_letter_agrees_with_official_on_random_outputs():
    letters = [p for p, _, _ in CASES] + ["E. text", "a", "B\n", " D.", "X", "xA.", "None", "\nNone\n", "\u3000C"]
    for prediction in letters:
        assert mmsu_letter(prediction) == official_mmsu_letter(prediction), repr(prediction)


def test_mmsu_official_mode_agrees_with_official_loop():
    """score_item in official mode counts/skips exactly where the official loop does."""
    for prediction, choices, answer in CASES:
        choices = choices[:4]
        if answer not in choices:
            answer = choices[0]
        item = Item("x", "x.wav", "?", choices, answer)
        ours = score_item("mmsu", item, prediction, mode="official")
        expected = official_mmsu_record(prediction, choices, answer)
        got = "skip" if not ours["counted"] else ("correct" if ours["correct"] else "wrong")
        assert got == expected, (prediction, choices, answer)


@pytest.mark.parametrize(
    "prediction, expected",
    [
        ("Man", True),
        ("The speaker is a man", False),  # "a" belongs only to the distractor "A robot"
        ("A. Man", False),  # DIFFA's echo style loses here (same reason)
        ("man, not a woman", False),
        ("MAN!", True),
        ("", False),
        ("B", False),  # a bare letter never matches officially
    ],
)
def test_mmau_match_cases(prediction, expected):
    assert mmau_match(prediction, ["Man", "Woman", "Child", "A robot"], "Man") is expected


def test_mmau_match_unicode_and_shared_words():
    assert mmau_match("high-pitched", ["high-pitched", "low-pitched"], "high-pitched")
    assert not mmau_match("pitched", ["high-pitched", "low-pitched"], "high-pitched")
    assert mmau_match("Café", ["café", "bar"], "café")
    # an option with the answer's word set is ignored, so its words are not held against it
    assert mmau_match("dog", ["dog", "Dog!", "cat"], "dog")


@pytest.mark.parametrize("prediction", ["B", "b", "B.", "(B)", " (B) ", "B)", "[B]", "B:", "B. Woman", "B) woman"])
def test_bare_letter_maps_to_option_text(prediction):
    choices = ["Man", "Woman", "Child", "A robot"]
    assert letter_to_choice(prediction, choices) == "Woman"
    assert mmau_match(letter_to_choice(prediction, choices), choices, "Woman")


def test_letter_mapping_leaves_other_text_alone():
    choices = ["Man", "Woman"]
    assert letter_to_choice("C", choices) == "C"  # beyond the options
    assert letter_to_choice("A. Woman", choices) == "A. Woman"  # letter and text disagree
    assert letter_to_choice("Woman", choices) == "Woman"
    eight = [str(i) for i in range(8)]
    assert letter_to_choice("H", eight) == "7"


@pytest.mark.parametrize(
    "prediction, letter, blank",
    [
        ("A", "A", False),
        ("C. Paris", "C", False),
        ("The answer is B.", "B", False),
        ("Answer: D", "A", False),
        ("The answer is D", None, False),
        ("None", None, True),
        ("", None, True),
        ("b", None, False),
        ("\n\nB\n", "B", False),
        ("xyz", None, False),
    ],
)
def test_mmsu_letter_cases(prediction, letter, blank):
    assert mmsu_letter(prediction) == letter
    assert mmsu_is_blank(prediction) is blank


def test_strict_mode_counts_everything():
    item = Item("x", "x.wav", "?", ["a", "b", "c", "d"], "b")
    assert score_item("mmsu", item, "I am not sure")["counted"]
    assert not score_item("mmsu", item, "I am not sure", mode="official")["counted"]
    assert score_item("mmsu", item, "None", mode="official")["counted"]
    assert score_item("mmsu", item, None, mode="official")["counted"]  # absent response reads as ""
    assert not score_item("mmar", item, None, mode="official")["counted"]
    assert score_item("mmar", item, None)["counted"] and score_item("mmar", item, None)["missing"]
    with pytest.raises(ValueError, match="mode"):
        score_item("mmar", item, "b", mode="lenient")


def test_normalize_transcript():
    assert normalize_transcript("  Mr. Quilter's   gospel, the_end! ") == "MR QUILTER'S GOSPEL THE END"
