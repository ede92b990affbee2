"""Command line: decode and score a benchmark from a local copy of its release.

::

    python -m speechbrain_diffa.evaluation mmau --data MMAU/ --split test-mini --version v05.15.25 \\
        --model MODEL_DIR --out results/mmau
    torchrun --nproc_per_node=8 -m speechbrain_diffa.evaluation mmsu --data MMSU/ --model M --out r/
    python -m speechbrain_diffa.evaluation mmar --data MMAR/ --out results/mmar --merge   # score only

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import datetime
import logging
import os
import sys

from speechbrain_diffa.cli import device_name
from speechbrain_diffa.decoding_presets import add_decoding_arguments, options_from_args, positive_int
from speechbrain_diffa.evaluation import scoring
from speechbrain_diffa.evaluation.benchmarks import BENCHMARKS, MMAU_SPLITS, MMAU_VERSIONS, check_complete, prepare


def parse_args(argv=None):
    """Command-line arguments.

    Example
    -------
    >>> a = parse_args(["mmsu", "--data", "d", "--out", "o", "--merge", "--factor", "1.0"])
    >>> a.benchmark, a.merge, a.factor, a.mode
    ('mmsu', True, 1.0, 'strict')
    """
    p = argparse.ArgumentParser(prog="python -m speechbrain_diffa.evaluation", description=__doc__.split("\n")[0])
    p.add_argument("benchmark", choices=BENCHMARKS)
    p.add_argument("--data", required=True, help="local copy of the release (folder or metadata file)")
    p.add_argument("--out", required=True, help="output folder: predictions*.jsonl, report.json/.md/.png")
    p.add_argument("--model", help="model folder for speechbrain_diffa.inference.DIFFA2 (not needed with --merge)")
    p.add_argument("--device", default="cpu", type=device_name)
    p.add_argument(
        "--compile", action="store_true", help="decode on the static cache, as CUDA graphs on a GPU (same answers)"
    )
    p.add_argument("--split", default="test-mini", choices=MMAU_SPLITS, help="MMAU split")
    p.add_argument(
        "--version",
        choices=MMAU_VERSIONS,
        help="MMAU release of the local copy (told by the file when it is an official one; needed otherwise)",
    )
    p.add_argument("--subset", default="test-clean", help="LibriSpeech subset")
    p.add_argument("--batch_size", type=positive_int, default=8)
    p.add_argument("--prompt", help="prompt template with {question} and {choices} (default: DIFFA-2's)")
    add_decoding_arguments(p, "DIFFA-2's own for the benchmark, BENCHMARK_PRESETS in decoding_presets")
    p.add_argument("--mode", default="strict", choices=scoring.MODES, help="mode of report.json's top level")
    p.add_argument("--allow_incomplete", action="store_true", help="score despite missing audio/records/predictions")
    p.add_argument("--merge", action="store_true", help="only merge existing predictions and score them")
    p.add_argument("--max_batches", type=positive_int, help="stop after this many batches (resume later)")
    p.add_argument("--no_progress", action="store_true")
    return p.parse_args(argv)


def decoding_overrides(args):
    """The decoding options given on the command line.

    Example
    -------
    >>> decoding_overrides(parse_args(["mmar", "--data", "d", "--out", "o", "--steps", "8", "--eos_early_stop"]))
    {'steps': 8, 'eos_early_stop': True}
    >>> decoding_overrides(parse_args(["mmar", "--data", "d", "--out", "o", "--fast"]))
    {'factor': 0.5, 'cache': 'dual', 'eos_early_stop': True}
    """
    return options_from_args(args)


def reader_options(args):
    """Per-benchmark options of :func:`~speechbrain_diffa.evaluation.benchmarks.prepare`."""
    if args.benchmark == "mmau":
        return {"split": args.split, "version": args.version}
    if args.benchmark == "librispeech":
        return {"subset": args.subset}
    return {}


class _Recorded:
    """Stands in for the model when only merging: the settings come from the prediction files."""

    def __init__(self, description):
        self.description = description


def main(argv=None):
    """Run the command line; returns the report dict (or None on a rank that did not merge)."""
    from speechbrain_diffa.evaluation import runner

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    prepared = prepare(args.benchmark, args.data, **reader_options(args))
    check_complete(prepared, args.allow_incomplete)
    common = dict(mode=args.mode, allow_incomplete=args.allow_incomplete)
    if args.merge:
        settings = _recorded_settings(args.out)
        if settings is None:
            sys.exit(f"No predictions to merge in {args.out}")
        prepared_settings = runner.run_settings(
            prepared, _Recorded(settings["model"]), settings["batch_size"], settings["prompt"], settings["decoding"]
        )
        report = runner.merge_and_report(prepared, args.out, prepared_settings, **common)
    else:
        if not args.model:
            sys.exit("--model is needed to decode (or pass --merge to score existing predictions)")
        rank, world_size = runner.shard_from_env()
        _init_distributed(world_size)
        answerer = runner.load_answerer(args.model, args.device, compile=args.compile)
        report = runner.run_benchmark(
            prepared,
            answerer,
            args.out,
            args.batch_size,
            args.prompt,
            decoding_overrides(args),
            max_batches=args.max_batches,
            progress=not args.no_progress,
            **common,
        )
    if report is not None:
        with open(os.path.join(args.out, "report.md"), encoding="utf-8") as f:
            print(f.read())
    return report


def _recorded_settings(out_dir):
    """The settings header of any prediction file in ``out_dir``."""
    import glob

    from speechbrain_diffa.evaluation.runner import read_predictions

    for path in sorted(glob.glob(os.path.join(out_dir, "predictions*.jsonl"))):
        settings, _ = read_predictions(path)
        if settings:
            return settings
    return None


def _init_distributed(world_size):
    """Join torchrun's process group (gloo: only a barrier is needed) when there are several ranks."""
    import torch.distributed as dist

    if world_size > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=24))


def console(argv=None):
    """:func:`main` for people: a bad input ends in one ``error:`` line and exit status 2, not a traceback.

    Example
    -------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     try:
    ...         console(["mmar", "--data", "/no/such/MMAR", "--out", "/tmp/x"])
    ...     except SystemExit as e:
    ...         print(e.code)
    2
    >>> err.getvalue().startswith("python -m speechbrain_diffa.evaluation: error: ")
    True
    """
    from speechbrain_diffa.data.audio import AudioError
    from speechbrain_diffa.evaluation.benchmarks import IncompleteSetError

    try:
        return main(argv)
    except (AudioError, IncompleteSetError, FileNotFoundError, PermissionError, KeyError, ValueError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"python -m speechbrain_diffa.evaluation: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    console()
