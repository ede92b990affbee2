"""Named sets of decoding options for :func:`speechbrain_diffa.sampling.generate`.

Plain dictionaries in a module of their own, so that code which only records or forwards decoding
settings (the benchmark runner's CLI and prompts, ``diffa2``'s argument parsing) can name them
without importing torch. :mod:`speechbrain_diffa.sampling` re-exports both.

Example
-------
>>> {**FAST_DECODING, **REFERENCE_DECODING}["cache"] is None
True

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import math

# Every fast option off: the reference sampler. Pass it to override an interface default
# (``model.answer_file(path, question, **REFERENCE_DECODING)``).
REFERENCE_DECODING = {"threshold": None, "factor": None, "cache": None, "eos_early_stop": False}
# The inference interface's default for answers: the fastest combination that kept answers within
# the tolerance (at most 1 % of answers changed, accuracy within 1 point) on the demo's trained
# model; the measurements are in docs/decoding.md ("Which defaults").
FAST_DECODING = {"factor": 0.5, "cache": "dual", "eos_early_stop": True}
# The decoding options a command line may set (``eos_early_stop`` is a flag).
DECODING_OPTIONS = ("steps", "gen_length", "block_length", "threshold", "factor", "cache")


def options_from_args(args, base=None):
    """The decoding options of parsed command-line ``args``, over ``base`` (e.g. a preset).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> args = SimpleNamespace(steps=8, gen_length=None, block_length=None, threshold=None,
    ...                        factor=0.7, cache=None, eos_early_stop=False)
    >>> options_from_args(args, FAST_DECODING)
    {'factor': 0.7, 'cache': 'dual', 'eos_early_stop': True, 'steps': 8}
    """
    out = dict(base or {})
    out.update({k: getattr(args, k) for k in DECODING_OPTIONS if getattr(args, k) is not None})
    if args.eos_early_stop:
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


def add_decoding_arguments(parser, title="decoding"):
    """The decoding options of both command lines (``diffa2`` and ``python -m speechbrain_diffa.evaluation``).

    Example
    -------
    >>> parser = argparse.ArgumentParser()
    >>> _ = add_decoding_arguments(parser)
    >>> options_from_args(parser.parse_args(["--steps", "8", "--cache", "dual"]))
    {'steps': 8, 'cache': 'dual'}
    """
    group = parser.add_argument_group(title)
    group.add_argument("--steps", type=positive_int, help="denoising steps in all")
    group.add_argument("--gen_length", type=positive_int, help="answer tokens")
    group.add_argument("--block_length", type=positive_int, help="tokens per semi-autoregressive block")
    group.add_argument("--threshold", type=unit_interval, help="commit every token above this confidence")
    group.add_argument("--factor", type=positive_float, help="DIFFA-2's parallel-decoding factor (1.0 in its scripts)")
    group.add_argument("--cache", choices=("prefix", "dual"), help="block KV cache")
    group.add_argument("--eos_early_stop", action="store_true", help="stop a row at its end of answer")
    return group
