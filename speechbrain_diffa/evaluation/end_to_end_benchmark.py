"""One MMAU-shaped item end to end at DIFFA-2's shapes: 30 s of audio in, a 16-token answer out, timed.

Run ``python -m speechbrain_diffa.evaluation.end_to_end_benchmark --device cuda --output results/e2e.json``
(``recipes/benchmarks/gpu_check.sh`` does, on one GPU). The model has DIFFA-2's shapes with random weights:
Whisper-large-v3's encoder (1280 wide, 32 layers, 128 mel bins), both adapters (64 acoustic queries) and
LLaDA-8B (4096 wide, 32 layers, 126,464 tokens) in bf16. What a trained model decides is how many passes it
needs; random weights are not sure of anything, so the passes are fixed by the decoding instead: one pass per
block (``threshold=0``) and two (``steps=2``), with the trained demo model's mean pass count (1.38 per
16-token answer with the answer-fast decoding, docs/decoding.md) read between the two.

Each row times ``DIFFA2Model.answer`` (log-mel features, encoder, adapters, the prompt's splice and the
diffusion decoding) at one batch size, eagerly and compiled (the ``compile`` run option: the encoder compiled
with CUDA graphs, decoding on the static cache with every pass a replayed graph), after untimed warm-up calls;
the encoder and adapters alone are timed too.

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import os
import tempfile
import time

import torch

from speechbrain_diffa.decoding_presets import compiled_decoding
from speechbrain_diffa.evaluation.decoding_benchmark import machine, now, write_report

# DIFFA-2's shapes (hparams/diffa2.yaml: whisper-large-v3 + LLaDA-8B-Instruct).
FULL_SHAPES = {
    "whisper_width": 1280,
    "whisper_layers": 32,
    "whisper_heads": 20,
    "n_mels": 128,
    "taps": [3, 7, 11, 15, 19, 23, 27, 31],
    "llm_width": 4096,
    "llm_layers": 32,
    "llm_heads": 32,
    "llm_mlp": 12288,
    "vocab": 126464,
    "queries": 64,
    "acoustic_ffn": 3072,
}
# A model that builds in seconds on a CPU (the test's).
TINY_SHAPES = dict(
    FULL_SHAPES, whisper_width=64, whisper_layers=4, whisper_heads=4, n_mels=80, taps=[1, 2, 3],
    llm_width=64, llm_layers=2, llm_heads=4, llm_mlp=128, vocab=1000, queries=8, acoustic_ffn=64,
)  # fmt: skip
MEAN_PASSES = 1.38  # the trained demo model's passes per 16-token answer (answer-fast decoding; docs/decoding.md)
ANSWER = {"gen_length": 16, "block_length": 16, "cache": "dual", "eos_early_stop": False}
PASSES = {1: {**ANSWER, "steps": 16, "threshold": 0.0}, 2: {**ANSWER, "steps": 2}}


def build_model(folder, shapes, device, dtype):
    """A DIFFA-2 of ``shapes`` with random weights (the Whisper folder is written to ``folder``).

    Example
    -------
    >>> model = build_model(str(getfixture("tmpdir")), TINY_SHAPES, "cpu", torch.float32)
    >>> model.llm.config.hidden_size, model.encoder.output_size
    (64, 64)
    """
    from speechbrain_diffa.adapters import AcousticAdapter, SemanticAdapter
    from speechbrain_diffa.chat import ChatLayout
    from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer, make_tiny_whisper
    from speechbrain_diffa.llada import LLaDA
    from speechbrain_diffa.model import DIFFA2Model
    from speechbrain_diffa.whisper import WhisperEncoderTaps

    whisper = make_tiny_whisper(os.path.join(folder, "whisper"), d_model=shapes["whisper_width"],
                                layers=shapes["whisper_layers"], heads=shapes["whisper_heads"],
                                n_mels=shapes["n_mels"])  # fmt: skip
    encoder = WhisperEncoderTaps(whisper, taps=shapes["taps"])
    tokenizer = make_tiny_tokenizer()
    chat = ChatLayout(tokenizer)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # an 8B model is never built in fp32
    try:
        with torch.device(device):
            llm = LLaDA({"d_model": shapes["llm_width"], "n_layers": shapes["llm_layers"],
                         "n_heads": shapes["llm_heads"], "mlp_hidden_size": shapes["llm_mlp"],
                         "vocab_size": shapes["vocab"], "embedding_size": shapes["vocab"],
                         "mask_token_id": chat.mask_id, "eos_token_id": chat.eos_id, "pad_token_id": chat.eos_id,
                         "rope_theta": 500000.0})  # fmt: skip
    finally:
        torch.set_default_dtype(default_dtype)
    semantic = SemanticAdapter(encoder.output_size, shapes["llm_width"])
    acoustic = AcousticAdapter(encoder.output_size, num_heads=encoder.num_heads, num_taps=len(shapes["taps"]),
                               output_size=shapes["llm_width"], num_queries=shapes["queries"],
                               ffn_size=shapes["acoustic_ffn"])  # fmt: skip
    model = DIFFA2Model(encoder, semantic, acoustic, llm, chat, stage=2)
    return model.to(device=device, dtype=dtype).eval()


def _timed(run, device, repeats):
    """Mean seconds of ``run()`` over ``repeats`` calls, after one untimed call."""
    run()
    start = now(device)
    for _ in range(repeats):
        run()
    return (now(device) - start) / repeats


@torch.no_grad()
def time_item(model, batch, device, repeats, compiled, seconds=30.0):
    """Latency of a batch of ``seconds``-long clips: encoder + adapters alone, and answers at 1 and 2 passes."""
    wavs = torch.randn(batch, int(seconds * 16000), generator=torch.Generator().manual_seed(0)) * 0.1
    wavs, lens = wavs.to(device), torch.ones(batch, device=device)
    questions = ["Which sound is heard? Choose: (A) a dog (B) a bell (C) rain (D) speech"] * batch
    cuda = torch.device(device).type == "cuda"
    row = {"batch": batch, "compiled": compiled, "audio_seconds": seconds}
    row["encoder_and_adapters_s"] = _timed(lambda: model.encode_audio_as_alone(wavs, lens), device, repeats)
    for passes, decoding in PASSES.items():
        decoding = compiled_decoding(decoding, cuda) if compiled else decoding
        stats = {}
        row[f"answer_{passes}_pass_s"] = _timed(
            lambda decoding=decoding, stats=stats: model.answer(wavs, lens, questions, stats=stats, **decoding),
            device,
            repeats,
        )
        row[f"passes_{passes}"] = stats["nfe"]
    one, two = row["answer_1_pass_s"], row["answer_2_pass_s"]
    row[f"answer_{MEAN_PASSES}_passes_s"] = one + (MEAN_PASSES - 1) * (two - one)  # read between the two
    return row


def run(args):
    """Build the model, time each batch size eagerly then compiled; the JSON-able report."""
    torch.manual_seed(args.seed)
    dtype = getattr(torch, args.dtype)
    shapes = TINY_SHAPES if args.tiny else FULL_SHAPES
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        model = build_model(folder, shapes, args.device, dtype)
    build_seconds = time.perf_counter() - start
    rows = []
    for compiled in (False, True):
        if compiled and torch.device(args.device).type == "cuda":
            model.encoder.compile_for_decoding()
        for batch in args.batches:
            rows.append(time_item(model, batch, args.device, args.repeats, compiled))
            print(json.dumps(rows[-1]), flush=True)
    return {"machine": machine(argparse.Namespace(threads=torch.get_num_threads(), device=args.device,
                                                  dtype=args.dtype)),  # fmt: skip
            "shapes": shapes, "build_seconds": build_seconds, "rows": rows}  # fmt: skip


def markdown_table(report):
    """The report's rows as a Markdown table (milliseconds per batch).

    Example
    -------
    >>> row = {"batch": 1, "compiled": True, "encoder_and_adapters_s": 0.004, "answer_1_pass_s": 0.012,
    ...        "answer_2_pass_s": 0.016, "answer_1.38_passes_s": 0.0135}
    >>> print(markdown_table({"rows": [row]}).splitlines()[-1])
    | 1 | yes | 4.0 | 12.0 | 16.0 | 13.5 |
    """
    lines = [
        f"| batch | compiled | encoder + adapters ms | answer, 1 pass ms | answer, 2 passes ms | answer, {MEAN_PASSES} "
        "passes ms (between) |",
        "|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['batch']} | {'yes' if r['compiled'] else 'no'} | {1000 * r['encoder_and_adapters_s']:.1f} | "
            f"{1000 * r['answer_1_pass_s']:.1f} | {1000 * r['answer_2_pass_s']:.1f} | "
            f"{1000 * r[f'answer_{MEAN_PASSES}_passes_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    """Command line."""
    parser = argparse.ArgumentParser(description="Time one MMAU-shaped item end to end at DIFFA-2's shapes.")
    parser.add_argument("--output", default="results/end_to_end.json")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tiny", action="store_true", help="a tiny model instead of DIFFA-2's shapes (a dry run)")
    args = parser.parse_args(argv)
    report = run(args)
    write_report(report, markdown_table(report), args.output)
    return report


if __name__ == "__main__":
    main()
