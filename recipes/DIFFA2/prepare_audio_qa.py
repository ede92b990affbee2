#!/usr/bin/env python3
"""Stage-2/3 audio-QA manifests for DIFFA-2 from JSON, JSON Lines or CSV files.

Source fields are renamed with --field_map (source name -> id, audio_filepath, input, target,
duration or choices); fields already named so need no entry. With choices (a list, a JSON list
string, "a | b | c", or several columns mapped to "choices"), the instruction is DIFFA-2's
multiple-choice prompt: --mcq_style mmau (the target is the option text, as MMAU scores it) or
mmsu (the target is the letter). Missing durations are read from the audio file headers.
Every record is checked before anything is written; bad records stop the run with the file,
record and field named, unless --skip_bad writes the others and lists the skipped ones in
<manifest stem>.skipped.json.

    python prepare_audio_qa.py --source qa.csv --save_path /data/qa/sft_train.json \\
        --audio_root /data/qa --field_map '{"wav": "audio_filepath", "question": "input", "answer": "target"}'
    python prepare_audio_qa.py --source mmsu_like.jsonl --save_path /data/qa/sft_mcq.json \\
        --audio_root /data/qa --mcq_style mmsu --field_map '{"audio": "audio_filepath",
        "question": "input", "answer_gt": "target", "choice_a": "choices", "choice_b": "choices",
        "choice_c": "choices", "choice_d": "choices"}'

Several sources can be joined with ``prepare_asr.py merge``.

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import logging
import sys

from speechbrain_diffa.data.manifests import ManifestError
from speechbrain_diffa.data.preparation import import_audio_qa
from speechbrain_diffa.prompts import MMAU_PROMPT, MMSU_PROMPT

MCQ_STYLES = {"mmau": (MMAU_PROMPT, "text"), "mmsu": (MMSU_PROMPT, "letter")}


def build_parser():
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("Authors")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--source", required=True, help=".json, .jsonl or .csv file of QA items")
    parser.add_argument("--save_path", required=True, help="manifest to write (.json or .jsonl)")
    parser.add_argument(
        "--audio_root",
        default="",
        help="relative audio paths are relative to it; audio "
        "under it is written as {data_root}/... (default: absolute paths)",
    )
    parser.add_argument(
        "--field_map",
        type=json.loads,
        default=None,
        help='JSON object: source field -> manifest field, e.g. \'{"question": "input"}\'',
    )
    parser.add_argument(
        "--mcq_style",
        choices=sorted(MCQ_STYLES),
        default="mmau",
        help="prompt and target form of multiple-choice items (default: mmau)",
    )
    parser.add_argument("--dataset", default="", help="dataset field of the records (default: source stem)")
    parser.add_argument(
        "--skip_bad",
        action="store_true",
        help="write the good records and list the bad ones in <manifest stem>.skipped.json instead of stopping",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="prepare again even if the output exists with the same options"
    )
    return parser


def main(argv=None):
    """Import one source; on unusable data print what is wrong and return 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    template, answer = MCQ_STYLES[args.mcq_style]
    try:
        import_audio_qa(
            args.source,
            args.save_path,
            args.audio_root,
            args.field_map,
            template,
            answer,
            args.dataset,
            args.skip_bad,
            args.overwrite,
        )
    except (ManifestError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
