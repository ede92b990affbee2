"""DIFFA-2's instruction templates, as its own training data and evaluation scripts write them.

Source: NKU-HLT/DIFFA ``DIFFA-2/inference_mmau.py`` (MMAU and MMAR), ``inference_mmsu.py`` and
``inference_stage1_asr.py`` with the ``run_*_inference.sh`` settings @ 4092579. Templates use
``{question}`` and ``{choices}`` (lines ``"A. option"``); any template may be passed instead and
is recorded in the output. The decoding settings of each benchmark are
:data:`speechbrain_diffa.decoding_presets.BENCHMARK_PRESETS`.

Authors
 * speechbrain_diffa contributors 2026
"""

import string

MMAU_PROMPT = (
    "You are given the audio and a multiple-choice question. Choose the best answer based only on "
    "the speech content and style.\n\nQuestion: {question}\n\nChoices:\n{choices}\nAnswer:"
)
MMSU_PROMPT = (
    "Choose the most suitable answer from options A, B, C, and D to respond the question in next "
    "line, **you should only choose A or B or C or D.** Do not provide any additional explanations "
    "or content.\n\nQuestion: {question}\n\n{choices}"
)
ASR_PROMPT = "Please transcribe the audio to text."

PROMPTS = {"mmau": MMAU_PROMPT, "mmar": MMAU_PROMPT, "mmsu": MMSU_PROMPT, "librispeech": ASR_PROMPT}


def format_choices(choices):
    """Option lines ``"A. text"`` (up to 26 options).

    Example
    -------
    >>> print(format_choices(["dog", "cat"]))
    A. dog
    B. cat
    """
    if len(choices) > 26:
        raise ValueError(f"At most 26 options can be lettered, got {len(choices)}")
    return "\n".join(f"{string.ascii_uppercase[i]}. {c}" for i, c in enumerate(choices))


def build_prompt(template, question, choices=None):
    """Fill a template with the question and lettered options.

    Example
    -------
    >>> print(build_prompt(MMAU_PROMPT, "What is heard?", ["rain", "wind"]).splitlines()[-4:])
    ['Choices:', 'A. rain', 'B. wind', 'Answer:']
    >>> build_prompt(ASR_PROMPT, "")
    'Please transcribe the audio to text.'
    """
    return template.format(question=question, choices=format_choices(choices) if choices else "")
