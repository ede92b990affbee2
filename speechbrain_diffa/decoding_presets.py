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
