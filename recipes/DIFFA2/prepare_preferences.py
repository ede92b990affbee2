#!/usr/bin/env python3
"""Stage-4 (VRPO) preference manifests for DIFFA-2: an SFT manifest joined with rejected answers.

The rejected answers are a JSON object {id: text} (or {id: {"rejected": text}}, or a JSON list /
JSON Lines of {"id": ..., "rejected": ...}), e.g. written by an LLM asked for a fluent answer
with a subtle audio-factual error, as DIFFA-2 did with Qwen3-32B. Each output record is the SFT
record plus "chosen" (its target) and "rejected". An SFT record without a rejected answer is an
error unless --partial (the answers cover a sample; the rest are counted in the log); a rejected
answer for an unknown id, or equal to the chosen one, is a bad record. Bad records stop the run
with the file, record and field named, unless --skip_bad writes the others and lists the skipped
ones in <manifest stem>.skipped.json.

    python prepare_preferences.py --sft_manifest /data/qa/sft_train.json \\
        --rejected /data/qa/rejected.json --save_path /data/qa/pref_train.json --partial

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import logging
import sys

from speechbrain_diffa.data.manifests import ManifestError
from speechbrain_diffa.data.preparation import make_preference_pairs


def build_parser():
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("Authors")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sft_manifest", required=True, help="stage-2/3 manifest with the chosen answers")
    parser.add_argument("--rejected", required=True, help="rejected answers by id (.json or .jsonl)")
    parser.add_argument("--save_path", required=True, help="manifest to write (.json or .jsonl)")
    parser.add_argument(
        "--data_root",
        default=None,
        help="replaces {data_root} for the audio checks (default: the folder of --sft_manifest)",
    )
    parser.add_argument("--rejected_field", default="rejected", help="rejected text field in record form")
    parser.add_argument(
        "--partial", action="store_true", help="the rejected answers cover only some SFT records; pair those"
    )
    parser.add_argument(
        "--skip_bad",
        action="store_true",
        help="write the good pairs and list the bad ones in <manifest stem>.skipped.json instead of stopping",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="prepare again even if the output exists with the same options"
    )
    return parser


def main(argv=None):
    """Make the pairs; on unusable data print what is wrong and return 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        make_preference_pairs(
            args.sft_manifest,
            args.rejected,
            args.save_path,
            args.data_root,
            args.rejected_field,
            args.partial,
            args.skip_bad,
            args.overwrite,
        )
    except (ManifestError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
