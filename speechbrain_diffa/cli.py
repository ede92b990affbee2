"""``diffa2``: ask DIFFA-2 about audio files, transcribe, export, convert the release, evaluate.

::

    diffa2 answer --model models/diffa2 clip.wav --question "What can you hear?"   [--json]
    diffa2 transcribe --model models/diffa2 a.wav b.flac
    diffa2 export recipes/DIFFA2/results/stage3_sft/42 models/diffa2-sft
    diffa2 convert-release DIFFA-2/pytorch_model.bin models/diffa2 --llm_path L --whisper_path W
    diffa2 eval mmau --data MMAU/ --version v05.15.25 --model models/diffa2 --out results/mmau

(``python -m speechbrain_diffa.cli ...`` is the same.) Errors that are the user's to fix (a
missing model folder, an unreadable audio file, an empty question) print one line and exit 2.

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import math
import os
import sys

from speechbrain_diffa.data.audio import AudioError
from speechbrain_diffa.decoding_presets import (
    _checked,
    add_decoding_arguments,
    options_from_args,
    positive_float,
    positive_int,
)


class UsageError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 2."""


def build_parser():
    """The argument parser of ``diffa2`` (one sub-command per task).

    Example
    -------
    >>> args = build_parser().parse_args(["answer", "--model", "m", "a.wav", "-q", "Why?", "--steps", "4"])
    >>> args.command, args.files, args.question, args.steps
    ('answer', ['a.wav'], 'Why?', 4)
    """
    parser = argparse.ArgumentParser(
        prog="diffa2",
        description="DIFFA-2, a diffusion audio-language model: answer questions about audio files, "
        "transcribe them, and package or evaluate models.",
        epilog="Run 'diffa2 COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    answer = sub.add_parser(
        "answer", help="answer a question about audio file(s)", description="Answer one question about each audio file."
    )
    _model_options(answer)
    answer.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, ogg, mp3...)")
    answer.add_argument("-q", "--question", required=True, help="the question, asked of every file")
    _output_options(answer)

    transcribe = sub.add_parser(
        "transcribe",
        help="transcribe audio file(s)",
        description="Transcribe speech (the model folder's transcribe_prompt and decoding).",
    )
    _model_options(transcribe)
    transcribe.add_argument("files", nargs="+", metavar="FILE", help="audio files")
    _output_options(transcribe)

    export = sub.add_parser(
        "export",
        help="turn a recipe's output folder into a model folder",
        description="Write hyperparams.yaml, diffa2.ckpt, example.wav and a model card "
        "from a stage's output folder (recipes/DIFFA2/train.py).",
    )
    export.add_argument("recipe_folder", help="the stage's output_folder (has diffa2_trained.ckpt)")
    export.add_argument("out", help="model folder to write")
    export.add_argument("--whisper_path", help="base Whisper for the model folder (default: the recipe's)")
    export.add_argument("--llm_path", help="base LLaDA for the model folder (default: the recipe's)")
    export.add_argument("--example", help="audio file to ship as example.wav (default: first validation clip)")
    export.add_argument("--scores", nargs="*", default=(), help="evaluation report.json files for the model card")
    export.add_argument("--title", help="model card title")

    convert = sub.add_parser(
        "convert-release",
        help="convert the DIFFA-2 release weights into a model folder",
        description="Convert a DIFFA-2 release checkpoint (pytorch_model.bin or "
        "*.safetensors, DIFFA names) into a model folder; every key is checked.",
    )
    convert.add_argument("release", help="release checkpoint file")
    convert.add_argument("out", help="model folder to write")
    convert.add_argument(
        "--like",
        help="a model folder hyperparams.yaml whose architecture the weights have "
        "(default: the released DIFFA-2, whisper-large-v3 + LLaDA-8B)",
    )
    convert.add_argument("--stage", type=int, choices=(1, 2, 3, 4), help="default: 3 with LoRA, else 2")
    convert.add_argument("--lora_alpha", type=float, default=16, help="not stored in the release (default 16)")
    convert.add_argument("--whisper_path", help="base Whisper (folder, or hub repo owner/name)")
    convert.add_argument("--llm_path", help="base LLaDA (folder, or hub repo owner/name)")
    convert.add_argument("--example", help="audio file to ship as example.wav")

    serve = sub.add_parser(
        "serve",
        help="serve a model over HTTP (OpenAI-style chat completions with audio)",
        description="Serve a model folder at /v1/chat/completions (audio as input_audio parts), with "
        "dynamic batching, streaming, /health and /metrics.",
    )
    _model_options(serve, batch=False)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    serve.add_argument("--port", type=port_number, default=8000)
    serve.add_argument("--model_name", default="diffa2", help="the model id clients name")
    serve.add_argument("--max_batch", type=positive_int, default=8, help="requests decoded together")
    serve.add_argument("--batch_window_ms", type=non_negative_float, default=10.0, help="batch fill wait")
    serve.add_argument("--max_queue", type=positive_int, default=64, help="waiting requests before 429")
    serve.add_argument("--max_audio_seconds", type=positive_float, default=30.0, help="longer clips get 413")
    serve.add_argument("--max_tokens", type=positive_int, default=512, help="the longest answer a request may ask")

    sub.add_parser(
        "eval",
        help="score a model on MMAU / MMSU / MMAR / LibriSpeech",
        description="Same as 'python -m speechbrain_diffa.evaluation'; see 'diffa2 eval --help'.",
        add_help=False,
    )
    return parser


def device_name(text):
    """An argparse type: a torch device this machine has (``cpu``, ``cuda``, ``cuda:N``, ``mps``).

    Example
    -------
    >>> device_name("cpu")
    'cpu'
    >>> device_name("bogus")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'bogus' is not a device (cpu, cuda, cuda:N, mps)
    """
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (cpu, cuda, cuda:N, mps)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        if count == 0 or (device.index or 0) >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} CUDA device(s)")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: MPS is not available here")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a device (cpu, cuda, cuda:N, mps)")
    return text


def port_number(text):
    """An argparse type: a TCP port (1-65535).

    Example
    -------
    >>> port_number("8000")
    8000
    """
    return _checked(text, int, lambda v: 1 <= v <= 65535, "a port number (1-65535)")


def non_negative_float(text):
    """An argparse type: a finite number of at least 0.

    Example
    -------
    >>> non_negative_float("0")
    0.0
    """
    return _checked(text, float, lambda v: math.isfinite(v) and v >= 0, "a number of at least 0")


def _model_options(parser, batch=True):
    parser.add_argument(
        "-m", "--model", required=True, help="model folder, or hub repo (owner/name or hf://owner/name)"
    )
    parser.add_argument("--whisper_path", help="override the model folder's base Whisper")
    parser.add_argument("--llm_path", help="override the model folder's base LLaDA")
    parser.add_argument("--device", type=device_name, help="e.g. cpu, cuda:0 (default: a GPU if there is one)")
    parser.add_argument(
        "--compile", action="store_true", help="decode on the static cache, as CUDA graphs on a GPU (same answers)"
    )
    if batch:
        parser.add_argument("--batch_size", type=positive_int, default=1, help="files per forward (1 = as the release)")
    add_decoding_arguments(parser, "the model folder's (the answer / transcribe presets when we export it)")


def _output_options(parser):
    parser.add_argument("--json", action="store_true", help="one JSON object per file instead of text")


def decoding_options(args):
    """The decoding options given on the command line.

    Example
    -------
    >>> args = build_parser().parse_args(["transcribe", "-m", "m", "a.wav", "--gen_length", "64"])
    >>> decoding_options(args)
    {'gen_length': 64}
    >>> decoding_options(build_parser().parse_args(["answer", "-m", "m", "a.wav", "-q", "Q", "--reference"]))
    {'threshold': None, 'factor': None, 'cache': None, 'eos_early_stop': False}
    """
    return options_from_args(args)


def load_model(args):
    """``DIFFA2.from_hparams`` for the ``--model`` folder, with the base-model overrides."""
    from speechbrain_diffa.inference import DIFFA2

    overrides = {k: getattr(args, k) for k in ("whisper_path", "llm_path") if getattr(args, k)}
    run_opts = {"device": args.device} if args.device else {}
    if getattr(args, "compile", False):
        run_opts["compile"] = True
    return DIFFA2.from_hparams(source=args.model, overrides=overrides, run_opts=run_opts or None)


def _check_model_folder(path):
    from speechbrain_diffa.hub.model_folder import hub_repo_id

    if not os.path.exists(path) and hub_repo_id(path, bare=True) is None:
        raise UsageError(f"model folder not found: {path}")
    if os.path.exists(path) and not os.path.isfile(os.path.join(path, "hyperparams.yaml")):
        raise UsageError(f"{path} is not a model folder (no hyperparams.yaml); make one with 'diffa2 export'")


def _check_files(files):
    for path in files:
        if not os.path.isfile(path):
            raise AudioError(f"Audio file not found: {path}")


def run_answer(args, out=None):
    """``diffa2 answer``."""
    out = out or sys.stdout
    if not args.question.strip():
        raise UsageError("the question is empty: ask something about the audio (--question)")
    _check_model_folder(args.model)
    _check_files(args.files)
    model = load_model(args)
    answers = model.answer_files(args.files, args.question, batch_size=args.batch_size, **decoding_options(args))
    _print(out, args, answers, question=args.question)


def run_transcribe(args, out=None):
    """``diffa2 transcribe``."""
    out = out or sys.stdout
    _check_model_folder(args.model)
    _check_files(args.files)
    model = load_model(args)
    texts = model.transcribe_files(args.files, batch_size=args.batch_size, **decoding_options(args))
    _print(out, args, texts)


def _print(out, args, texts, question=None):
    for path, text in zip(args.files, texts):
        if args.json:
            record = {"file": path, "question": question, "answer": text} if question else {"file": path, "text": text}
            print(json.dumps(record, ensure_ascii=False), file=out)
        elif len(args.files) == 1:
            print(text, file=out)
        else:
            print(f"{path}\t{text}", file=out)


def run_export(args, out=None):
    """``diffa2 export``."""
    out = out or sys.stdout
    from speechbrain_diffa.hub.export import export_recipe

    folder = export_recipe(
        args.recipe_folder, args.out, args.whisper_path, args.llm_path, args.example, args.scores, args.title
    )
    print(f"Model folder written: {folder}", file=out)


def run_convert(args, out=None):
    """``diffa2 convert-release``."""
    out = out or sys.stdout
    from speechbrain_diffa.hub.export import export_release, read_hub_values

    like = read_hub_values(args.like) if args.like else None
    report = export_release(
        args.release,
        args.out,
        like=like,
        stage=args.stage,
        lora_alpha=args.lora_alpha,
        whisper_path=args.whisper_path,
        llm_path=args.llm_path,
        example=args.example,
    )
    print(json.dumps(report, indent=2), file=out)
    print(f"Model folder written: {args.out}", file=out)


def run_serve(args, out=None):
    """``diffa2 serve``: the command line's decoding options become the server's defaults."""
    from speechbrain_diffa.serving import ServeSettings, serve

    _check_model_folder(args.model)
    model = load_model(args)
    model.hparams.decoding = {**model.hparams.decoding, **decoding_options(args)}
    settings = ServeSettings(
        max_batch=args.max_batch,
        batch_window_ms=args.batch_window_ms,
        max_queue=args.max_queue,
        max_audio_seconds=args.max_audio_seconds,
        max_tokens=args.max_tokens,
    )
    serve(model, host=args.host, port=args.port, settings=settings, model_name=args.model_name)


COMMANDS = {
    "serve": run_serve,
    "answer": run_answer,
    "transcribe": run_transcribe,
    "export": run_export,
    "convert-release": run_convert,
}


def main(argv=None, err=None):
    """Run ``diffa2``; returns the exit status (errors go to ``err``, default stderr).

    Example
    -------
    >>> main(["answer", "--model", "/no/such/model", "a.wav", "-q", "Why?"], err=sys.stdout)
    diffa2: error: model folder not found: /no/such/model
    2
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval":
        from speechbrain_diffa.evaluation.__main__ import console as evaluate

        evaluate(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except (UsageError, AudioError, FileNotFoundError, PermissionError, KeyError, ValueError, TypeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"diffa2: error: {message}", file=err or sys.stderr)
        return 2
    return 0


def main_exit():
    """The ``diffa2`` console script: :func:`main`, then exit with its status."""
    sys.exit(main())


if __name__ == "__main__":
    main_exit()
