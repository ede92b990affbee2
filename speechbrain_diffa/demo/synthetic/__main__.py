"""Build the synthetic listening corpus from the command line.

Example::

    python -m speechbrain_diffa.demo.synthetic --folder data/synthetic --seed 0

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import logging
import sys
import time

from speechbrain_diffa.demo.synthetic.corpus import build_corpus
from speechbrain_diffa.demo.synthetic.speech import ENGINES
from speechbrain_diffa.demo.synthetic.tasks import QUESTION_TYPES_BY_NAME


def parse_args(argv=None):
    """Command-line options (see ``--help``).

    Example
    -------
    >>> parse_args(["--folder", "out"]).num_train
    1500
    """
    p = argparse.ArgumentParser(prog="python -m speechbrain_diffa.demo.synthetic", description=__doc__.split("\n")[0])
    p.add_argument("--folder", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0, help="everything follows from it")
    p.add_argument("--num_train", type=int, default=1500, help="training clips")
    p.add_argument("--num_valid", type=int, default=150, help="validation clips")
    p.add_argument("--num_test", type=int, default=300, help="held-out test clips (one question each)")
    p.add_argument("--question_types", nargs="+", choices=list(QUESTION_TYPES_BY_NAME), help="default: all")
    p.add_argument("--speech", choices=ENGINES, default="auto", help="speech engine (formant: fallback)")
    p.add_argument("--num_threads", type=int, default=2, help="clips rendered at once")
    return p.parse_args(argv)


def main(argv=None):
    """Build the corpus and print a summary.

    Example
    -------
    >>> folder = getfixture("tmpdir").strpath
    >>> main(["--folder", folder, "--num_train", "3", "--num_valid", "3", "--num_test", "3",
    ...       "--speech", "formant"])  # doctest: +ELLIPSIS
    Built ... in ... s (speech: formant): ...
    """
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.time()
    info = build_corpus(
        args.folder,
        seed=args.seed,
        num_train=args.num_train,
        num_valid=args.num_valid,
        num_test=args.num_test,
        question_types=args.question_types,
        speech=args.speech,
        num_threads=args.num_threads,
        progress=sys.stderr.isatty(),
    )
    print(
        f"Built {args.folder} in {time.time() - start:.1f} s (speech: {info['speech_engine']}): "
        f"{json.dumps(info['records'])}; test chance {json.dumps(info['test_chance'])}"
    )


if __name__ == "__main__":
    main()
