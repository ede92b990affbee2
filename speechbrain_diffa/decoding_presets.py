"""Named decoding settings for :func:`speechbrain_diffa.sampling.generate`, one per use.

Every entry point starts from one of these: ``DIFFA2Model.answer`` and the ``DIFFA2`` interface
answer with ``"answer"`` and transcribe with ``"transcribe"`` (an exported model folder writes
them into its ``hyperparams.yaml``), ``diffa2`` and the benchmark runner take ``--preset``, and the
runner scores each benchmark with DIFFA-2's own settings (:data:`BENCHMARK_PRESETS`). Any single
option may still be given on top. Plain dictionaries in a module without torch, so code that only
forwards settings (argument parsing, reports) can name them.

==================== ======================== ==================================================
preset               schedule (steps/gen/blk) fast options
==================== ======================== ==================================================
answer               16/16/16                 EOS stop (the default: the reference's answers)
answer-cached        16/16/16                 dual cache, EOS stop (opt-in: faster on a CPU)
answer-fast          16/16/16                 factor 0.5, dual cache, EOS stop (fewer passes)
answer-reference     16/16/16                 none: LLaDA's reference sampler (MMAU, MMAR)
letter-reference     4/4/4                    none (DIFFA-2's MMSU script: a single letter)
transcribe           128/128/128              EOS stop (the default for transcripts: the gate's)
transcribe-reference 128/128/128              none (DIFFA-2's ASR script)
==================== ======================== ==================================================

Why ``answer`` holds only the EOS stop (``answer-cached`` changed 6.3 % of one trained model's answers,
``answer-fast`` up to 7 % of another's), and what each option costs and gains: ``docs/decoding.md``.

Example
-------
>>> preset("answer")["cache"], preset("answer-cached")["cache"], preset("answer-fast")["factor"]
(None, 'dual', 0.5)
>>> preset("transcribe", gen_length=64)["gen_length"]
64

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import math

# Every fast option off: the reference sampler. Pass it to override an interface default
# (``model.answer_file(path, question, **REFERENCE_DECODING)``).
REFERENCE_DECODING = {"threshold": None, "factor": None, "cache": None, "eos_early_stop": False}
# The options of the "answer" and "transcribe" presets: the reference sampler, stopping a row once its answer has
# ended, which never changes an answer (tested). The only option inside the tolerance (at most 1 % of answers
# changed, accuracy within 1 point) on every trained model measured; docs/decoding.md, "Which defaults".
EOS_STOP_DECODING = {**REFERENCE_DECODING, "eos_early_stop": True}
# The "answer-cached" preset's options: the dual cache, about 3.5x faster on a CPU, changed 0-0.7 % of the answers
# of most trained models measured and 6.3 % of one (docs/decoding.md).
CACHED_DECODING = {**EOS_STOP_DECODING, "cache": "dual"}
# The "answer-fast" preset's options (CLI --fast): the factor rule commits several tokens per pass; outside the
# tolerance on three trained models (docs/decoding.md, "Which defaults").
FAST_DECODING = {"factor": 0.5, "cache": "dual", "eos_early_stop": True}
# The decoding options a command line may set (``eos_early_stop`` is a flag).
DECODING_OPTIONS = ("steps", "gen_length", "block_length", "threshold", "factor", "cache")


def _schedule(length):
    """``steps = gen_length = block_length = length``: one token per step, one block (DIFFA-2's scripts)."""
    return {"steps": length, "gen_length": length, "block_length": length}


PRESETS = {
    "answer": {**_schedule(16), **EOS_STOP_DECODING},
    "answer-cached": {**_schedule(16), **CACHED_DECODING},
    "answer-fast": {**_schedule(16), **REFERENCE_DECODING, **FAST_DECODING},
    "answer-reference": {**_schedule(16), **REFERENCE_DECODING},
    "letter-reference": {**_schedule(4), **REFERENCE_DECODING},
    "transcribe": {**_schedule(128), **EOS_STOP_DECODING},
    "transcribe-reference": {**_schedule(128), **REFERENCE_DECODING},
}
# What the benchmark runner decodes each benchmark with unless told otherwise: DIFFA-2's own evaluation settings
# (its Python scripts' defaults), so scores compare with the published ones. Its shell scripts add the factor rule
# at 1.0 and run MMSU at 16/16/16; the paper's headline MMSU 60.45 is without it (60.10 with it).
BENCHMARK_PRESETS = {
    "mmau": "answer-reference",
    "mmar": "answer-reference",
    "mmsu": "letter-reference",
    "librispeech": "transcribe-reference",
}


def preset(name, **overrides):
    """A copy of the named preset with ``overrides`` on top.

    Arguments
    ---------
    name : str
        One of :data:`PRESETS`.
    **overrides
        Any :func:`~speechbrain_diffa.sampling.generate` option.

    Returns
    -------
    dict

    Example
    -------
    >>> settings = preset("letter-reference")
    >>> settings["gen_length"], settings["cache"], settings["eos_early_stop"]
    (4, None, False)
    >>> preset("fastest")
    Traceback (most recent call last):
    ...
    ValueError: No decoding preset 'fastest'; the presets are answer, answer-cached, answer-fast, ...
    """
    if name not in PRESETS:
        raise ValueError(f"No decoding preset {name!r}; the presets are {', '.join(PRESETS)}")
    return {**PRESETS[name], **overrides}


# The options of the static cache's path (speechbrain_diffa.static_cache), which a ``compile`` run option sets.
COMPILE_OPTIONS = ("static_cache", "cuda_graphs")
# Options that put generate() on its fast path (the block runner); without any, it runs the reference sampler.
FAST_PATH_OPTIONS = ("threshold", "factor", "cache", "eos_early_stop")


def compiled_decoding(decoding, cuda):
    """``decoding`` on the static cache, and on CUDA as captured graphs, where it takes the fast path.

    The reference sampler (every fast option off) is left as it is: it encodes the whole canvas with
    the reference's quirks, which the fast path does not keep. Options the caller set win.

    Arguments
    ---------
    decoding : dict
        :func:`~speechbrain_diffa.sampling.generate` options.
    cuda : bool
        The model is on a CUDA device (graphs are CUDA's).

    Returns
    -------
    dict

    Example
    -------
    >>> compiled_decoding(preset("answer-cached"), cuda=True)["cuda_graphs"]
    True
    >>> "static_cache" in compiled_decoding(preset("answer-reference"), cuda=True)
    False
    >>> compiled_decoding({"cache": "dual", "static_cache": False}, cuda=False)["static_cache"]
    False
    """
    if not any(decoding.get(k) for k in FAST_PATH_OPTIONS):
        return dict(decoding)
    return {"static_cache": True, "cuda_graphs": bool(cuda), **decoding}


def options_from_args(args, base=None):
    """The decoding options of parsed command-line ``args`` (:func:`add_decoding_arguments`), over ``base``.

    In order: ``base`` (the caller's default), the ``--preset``, ``--reference`` (every fast option
    off) or ``--fast`` (:data:`FAST_DECODING`), then each option given on its own.

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_decoding_arguments(parser)
    >>> options_from_args(parser.parse_args(["--steps", "8", "--factor", "0.7"]), {"cache": "dual"})
    {'cache': 'dual', 'steps': 8, 'factor': 0.7}
    >>> options_from_args(parser.parse_args(["--preset", "letter-reference", "--fast"]))["gen_length"]
    4
    >>> options_from_args(parser.parse_args(["--reference"]))
    {'threshold': None, 'factor': None, 'cache': None, 'eos_early_stop': False}
    """
    out = dict(base or {})
    if getattr(args, "preset", None):
        out.update(PRESETS[args.preset])
    if getattr(args, "reference", False):
        out.update(REFERENCE_DECODING)
    if getattr(args, "fast", False):
        out.update(FAST_DECODING)
    out.update({k: getattr(args, k) for k in DECODING_OPTIONS if getattr(args, k, None) is not None})
    if getattr(args, "eos_early_stop", False):
        out["eos_early_stop"] = True
    return out


def _checked(text, convert, ok, what):
    """``convert(text)`` if it parses and passes ``ok``, else an argparse error saying what was expected."""
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text):
    """An argparse type: an integer of at least 1.

    Example
    -------
    >>> positive_int("4")
    4
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be a positive integer, got '0'
    """
    return _checked(text, int, lambda v: v >= 1, "a positive integer")


def unit_interval(text):
    """An argparse type: a number in (0, 1] (a confidence threshold).

    Example
    -------
    >>> unit_interval("0.9")
    0.9
    """
    return _checked(text, float, lambda v: 0.0 < v <= 1.0, "a number in (0, 1]")


def positive_float(text):
    """An argparse type: a finite number above 0 (DIFFA-2's factor).

    Example
    -------
    >>> positive_float("1.0")
    1.0
    """
    return _checked(text, float, lambda v: v > 0.0 and math.isfinite(v), "a number above 0")


def add_decoding_arguments(parser, default="the model folder's"):
    """The decoding options of both command lines (``diffa2`` and ``python -m speechbrain_diffa.evaluation``).

    Arguments
    ---------
    parser : argparse.ArgumentParser
        Gets a "decoding" argument group.
    default : str
        What decoding is used when none of these is given (for the group's title).

    Returns
    -------
    argparse._ArgumentGroup

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_decoding_arguments(parser)
    >>> options_from_args(parser.parse_args(["--steps", "8", "--cache", "dual"]))
    {'steps': 8, 'cache': 'dual'}
    """
    group = parser.add_argument_group(f"decoding (default: {default})")
    group.add_argument("--preset", choices=tuple(PRESETS), help="start from this named preset")
    speed = group.add_mutually_exclusive_group()
    speed.add_argument("--reference", action="store_true", help="LLaDA's reference sampler: every fast option off")
    speed.add_argument(
        "--fast", action="store_true", help="the answer-fast options: factor rule 0.5, dual cache, EOS stop"
    )
    group.add_argument("--steps", type=positive_int, help="denoising steps in all")
    group.add_argument("--gen_length", type=positive_int, help="answer tokens")
    group.add_argument("--block_length", type=positive_int, help="tokens per semi-autoregressive block")
    group.add_argument("--threshold", type=unit_interval, help="commit every token above this confidence")
    group.add_argument("--factor", type=positive_float, help="DIFFA-2's parallel-decoding factor (1.0 in its scripts)")
    group.add_argument("--cache", choices=("prefix", "dual"), help="block KV cache")
    group.add_argument("--eos_early_stop", action="store_true", help="stop a row at its end of answer")
    return group
