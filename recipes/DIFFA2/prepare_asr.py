#!/usr/bin/env python3
"""Stage-1 ASR manifests for DIFFA-2: LibriSpeech, or any corpus in Kaldi's wav.scp + text layout.

Each utterance gets an instruction drawn (deterministically, by id) from a pool of 25
paraphrases of "transcribe the audio", and its transcript as the target. Every record is
checked before anything is written; a bad one (missing or unreadable audio, empty transcript...)
stops the run with the file, record and field named, unless ``--skip_bad`` is given, which
writes the others and lists the skipped ones in ``<manifest stem>.skipped.json``.

    python prepare_asr.py librispeech --data_folder /data/LibriSpeech \\
        --splits train-clean-100 train-clean-360 train-other-500 dev-clean --save_folder /data/LibriSpeech
    python prepare_asr.py merge --save_path /data/LibriSpeech/asr_train.json \\
        --manifests /data/LibriSpeech/asr_train-clean-100.json /data/LibriSpeech/asr_train-clean-360.json \\
        /data/LibriSpeech/asr_train-other-500.json
    python prepare_asr.py merge --manifests /data/LibriSpeech/asr_dev-clean.json \\
        --save_path /data/LibriSpeech/asr_valid.json
    python prepare_asr.py kaldi --data_dir data/train --save_path /data/corpus/asr_train.json \\
        --data_root /data/corpus

Audio paths are written as ``{data_root}/...``; point training's ``--data_folder`` at the same
folder (the stage YAMLs also read ``asr_train.json`` / ``asr_valid.json`` from it).

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import logging
import sys

from speechbrain_diffa.data.manifests import ManifestError
from speechbrain_diffa.data.preparation import (
    ASR_TEMPLATES,
    TEXT_CASES,
    merge_manifests,
    prepare_kaldi,
    prepare_librispeech,
)


def read_templates(path):
    """Instruction templates, one per non-empty line of a UTF-8 file (default: the built-in 25)."""
    if not path:
        return ASR_TEMPLATES
    with open(path, encoding="utf-8") as f:
        templates = tuple(line.strip() for line in f if line.strip())
    if not templates:
        raise ValueError(f"{path}: no templates (expected one instruction per line)")
    return templates


def add_asr_options(parser):
    """Options shared by the librispeech and kaldi commands."""
    parser.add_argument(
        "--templates", default="", help="file with one instruction per line (default: the built-in pool of 25)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-utterance template draw")
    parser.add_argument(
        "--text_case",
        choices=TEXT_CASES,
        default="sentence",
        help="sentence (default): 'I think so'; lower; raw: the corpus text as is",
    )
    add_common_options(parser)


def add_common_options(parser):
    """--skip_bad and --overwrite."""
    parser.add_argument(
        "--skip_bad",
        action="store_true",
        help="write the good records and list the bad ones in <manifest stem>.skipped.json instead of stopping",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="prepare again even if the output exists with the same options"
    )


def build_parser():
    """The command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("Authors")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    libri = commands.add_parser("librispeech", help="LibriSpeech splits -> asr_<split>.json")
    libri.add_argument("--data_folder", required=True, help="the LibriSpeech folder (holds the splits)")
    libri.add_argument("--splits", nargs="+", required=True, help="e.g. train-clean-100 dev-clean")
    libri.add_argument("--save_folder", required=True, help="where asr_<split>.json are written")
    add_asr_options(libri)
    kaldi = commands.add_parser("kaldi", help="a Kaldi data folder (wav.scp + text) -> one manifest")
    kaldi.add_argument("--data_dir", required=True, help="folder with wav.scp and text (no segments)")
    kaldi.add_argument("--save_path", required=True, help="manifest to write (.json or .jsonl)")
    kaldi.add_argument(
        "--data_root",
        default="",
        help="relative wav.scp paths are relative to it; audio "
        "under it is written as {data_root}/... (default: absolute paths)",
    )
    kaldi.add_argument("--dataset", default="", help="dataset field of the records (default: folder name)")
    add_asr_options(kaldi)
    merge = commands.add_parser("merge", help="concatenate manifests (e.g. the train splits)")
    merge.add_argument("--manifests", nargs="+", required=True, help="input manifests")
    merge.add_argument("--save_path", required=True, help="merged manifest")
    merge.add_argument(
        "--data_root", default=None, help="replaces {data_root} for the checks (default: the folder of --save_path)"
    )
    merge.add_argument("--skip_bad", action="store_true", help="write the good records, list the bad ones")
    return parser


def main(argv=None):
    """Run one command; on unusable data print what is wrong and return 1."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "merge":
            merge_manifests(args.manifests, args.save_path, data_root=args.data_root, skip_bad=args.skip_bad)
            return 0
        common = dict(
            templates=read_templates(args.templates),
            seed=args.seed,
            text_case=args.text_case,
            skip_bad=args.skip_bad,
            overwrite=args.overwrite,
        )
        if args.command == "librispeech":
            prepare_librispeech(args.data_folder, args.splits, args.save_folder, **common)
        else:
            prepare_kaldi(args.data_dir, args.save_path, args.data_root, args.dataset, **common)
    except (ManifestError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
