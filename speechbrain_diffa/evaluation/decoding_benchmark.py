"""Decoding benchmark: the reference sampler, each fast option, their combination, and an AR baseline.

Run ``python -m speechbrain_diffa.evaluation.decoding_benchmark --output results/decoding.json``. Everything is
measured in one run on this machine, side by side, at the shapes of real use:

* the prefix is an audio block of 439 positions (30 s: 64 acoustic + 375 semantic) plus a
  ~60-token prompt; answers are 16 tokens (multiple choice) or 128 (transcription);
* the model has LLaDA's 126,464-token vocabulary and a small transformer (CPU-sized: see
  ``--width/--layers``). At 8B the LM head is ~7 % of the weights; here it is most of them, so
  the gain from computing the head only on the current block is larger here than at 8B;
* a random model is not confident, and parallel commits and EOS stops depend on confidence. So
  the benchmark first fits the model (masked-diffusion SFT, answers padded with EOS) to answer
  each prompt with one of two fixed answers chosen by a marker token in the prompt, which makes
  it as sure of its answers as a trained model;
* the autoregressive baseline is a causal transformers Llama of the same size with its KV cache
  and ``generate``, forced to the same number of new tokens.

The decoding runs use the text path of :func:`speechbrain_diffa.sampling.generate`; the audio path
is the same loop (the audio block only enters the embeddings).

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import os
import platform
import threading
import time

import torch

from speechbrain_diffa.decoding_presets import (
    BENCHMARK_PRESETS,
    CACHED_DECODING,
    FAST_DECODING,
    REFERENCE_DECODING,
    preset,
)
from speechbrain_diffa.diffusion import forward_process, masked_diffusion_loss
from speechbrain_diffa.llada import LLaDA
from speechbrain_diffa.sampling import generate

LLADA_VOCAB = 126464
AUDIO_POSITIONS, PROMPT_TOKENS = 439, 60
LIMIT = "limit: one pass per block (threshold 0, quality ignored)"
TWO_PASSES = "2 steps per block + dual cache (a sure model's pass count)"
TWO_PASSES_COMPILED = TWO_PASSES + ", compiled"
# (name, options); every fast option runs alone, then the best combination.
CONFIGS = [
    ("reference", {}),
    ("threshold 0.9", {"threshold": 0.9}),
    ("factor 1.0 (DIFFA-2 FPD)", {"factor": 1.0}),
    ("eos early stop (answer preset)", {"eos_early_stop": True}),
    ("prefix cache", {"cache": "prefix"}),
    ("dual cache", {"cache": "dual"}),
    ("factor 1.0 + dual cache + eos stop", {"factor": 1.0, "cache": "dual", "eos_early_stop": True}),
    ("dual cache + eos stop (answer-cached preset)", CACHED_DECODING),
    ("factor 0.5 + dual cache + eos stop (answer-fast preset)", FAST_DECODING),
    ("threshold 0.9 + dual cache + eos stop", {"threshold": 0.9, "cache": "dual", "eos_early_stop": True}),
    # The reference's schedule with 2 steps per block (half a block committed per step): a real
    # decoder whose cost is what the confidence rules cost on a model that needs 2 passes per
    # block, whatever the benchmark model's own confidence (the demo's trained model needs 1.38
    # passes per 16-token answer with the factor rule at 0.5).
    (TWO_PASSES, {"steps_per_block": 2, "cache": "dual"}),
    # Not a decoder: every token of a block committed on the block's first pass, whatever the model's
    # confidence. Its time is the floor of any diffusion decoder here: one pass per block.
    (LIMIT, {"threshold": 0.0}),
    # The same decoders as a `compile` run option runs them: on the static cache, and on CUDA with every pass
    # replayed as a captured graph (speechbrain_diffa.static_cache). Same answers as the rows above.
    ("eos early stop (answer preset), compiled", {"eos_early_stop": True, "static_cache": True}),
    ("dual cache + eos stop (answer-cached preset), compiled", {**CACHED_DECODING, "static_cache": True}),
    ("factor 0.5 + dual cache + eos stop (answer-fast preset), compiled", {**FAST_DECODING, "static_cache": True}),
    (TWO_PASSES_COMPILED, {"steps_per_block": 2, "cache": "dual", "static_cache": True}),
]
AR_PLAIN = "autoregressive (Llama + KV cache)"
# transformers' static cache; on CUDA generate() then compiles the model's forward with CUDA graphs itself.
AR_COMPILED = "autoregressive (Llama + static cache, compiled on CUDA)"


def special_ids(vocab):
    """LLaDA's special ids for its vocabulary; the last ids of a smaller (test) vocabulary.

    Example
    -------
    >>> special_ids(126464)["mask"], special_ids(1000)["mask"]
    (126336, 999)
    """
    if vocab == LLADA_VOCAB:
        return {"mask": 126336, "bos": 126080, "eos": 126081, "eot": 126348}
    return {"mask": vocab - 1, "bos": vocab - 4, "eos": vocab - 3, "eot": vocab - 2}


class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak`` is the max above the start."""

    def __init__(self, interval=0.002):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def rss():
        """Resident set size in bytes (Linux)."""
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        self.start = self.rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss() - self.start)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


class PeakCUDA:
    """Peak CUDA memory allocated inside the block, above what was allocated at its start."""

    def __enter__(self):
        torch.cuda.synchronize()
        self.start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc):
        torch.cuda.synchronize()
        self.peak = torch.cuda.max_memory_allocated() - self.start


def peak_memory(device):
    """The memory probe for ``device`` (CUDA allocator, or the process's resident memory on CPU)."""
    return PeakCUDA() if torch.device(device).type == "cuda" else PeakRSS()


def now(device):
    """Wall clock, after the device has finished its queued work."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter()


def make_data(n_items, gen_length, answer_tokens, ids, seed, n_answers=2):
    """Prefixes (439 'audio' + 60 prompt positions) and EOS-padded answers of ``gen_length``.

    Each item's answer is one of ``n_answers`` fixed sequences, chosen by a marker token in its
    prompt: a task a small model learns in a few minutes, after which it is as sure of its
    answers as a trained model (what parallel commits and EOS stops need to show their effect).
    """
    g = torch.Generator().manual_seed(seed)
    ordinary = min(ids.values())  # draw ordinary tokens below the special ones
    prefix = torch.randint(0, ordinary, (n_items, AUDIO_POSITIONS + PROMPT_TOKENS), generator=g)
    prefix[:, 0] = ids["bos"]
    choice = torch.arange(n_items) % n_answers
    markers = torch.randint(0, ordinary, (n_answers,), generator=g)
    prefix[:, AUDIO_POSITIONS + 1] = markers[choice]
    options = torch.full((n_answers, gen_length), ids["eos"])
    options[:, :answer_tokens] = torch.randint(0, ordinary, (n_answers, answer_tokens), generator=g)
    options[:, answer_tokens] = ids["eot"]
    return prefix, options[choice]


def fit(llm, tasks, steps, mask_id, lr=3e-3, seed=0):
    """Masked-diffusion SFT on each task's answers (alternating tasks) until the model is sure of them.

    Arguments
    ---------
    tasks : list of (prefixes, answers)
        One entry per answer length.
    """
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(llm.parameters(), lr=lr, weight_decay=0.0)
    llm.train()
    losses = {}
    for step in range(steps):
        prefixes, answers = tasks[step % len(tasks)]
        ids = torch.cat([prefixes, answers], 1)
        answer = (torch.arange(ids.shape[1])[None, :] >= prefixes.shape[1]).expand_as(ids)
        batch = torch.randperm(len(ids), generator=g)[:4]
        noisy, masked, p = forward_process(ids[batch], answer[batch], mask_id, generator=g)
        logits = llm(noisy, logits_mask=masked).logits
        loss = masked_diffusion_loss(logits, ids[batch][masked], p[masked.nonzero()[:, 0]], answer[batch].sum())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses[answers.shape[1]] = float(loss.detach())
    llm.eval()
    return losses


def ar_twin(llm):
    """A causal Llama of the same size and weights (the autoregressive baseline)."""
    from transformers import LlamaForCausalLM

    config = llm.config.__class__(**llm.config.to_dict())
    config.is_causal = True
    config.use_cache = True
    with torch.device(llm.device):
        ar = LlamaForCausalLM(config).to(llm.dtype).eval()
    ar.load_state_dict(llm.llm.state_dict())
    return ar


def time_diffusion(llm, prefixes, gen_length, batch, options, ids):
    """Decode every item in batches; per-answer wall time, NFE, outputs, peak extra memory.

    A static-cache row runs with CUDA graphs on a CUDA device, after one untimed batch (the capture).
    """
    outputs, nfe, elapsed = [], 0, 0.0
    options = dict(options)
    if options.get("static_cache") and prefixes.device.type == "cuda":
        options["cuda_graphs"] = True
    block_length = 16 if gen_length == 16 else 32
    steps = gen_length // block_length * options.pop("steps_per_block", block_length)
    settings = dict(
        steps=steps,
        gen_length=gen_length,
        block_length=block_length,
        mask_id=ids["mask"],
        eos_id=ids["eos"],
        eot_id=ids["eot"],
    )
    device = prefixes.device
    if options.get("static_cache"):
        generate(llm, prefixes[:batch], **settings, **options)
    with peak_memory(device) as memory:
        for i in range(0, len(prefixes), batch):
            stats = {}
            start = now(device)
            out = generate(llm, prefixes[i : i + batch], stats=stats, **settings, **options)
            elapsed += now(device) - start
            nfe += stats["nfe"]
            outputs.append(out[:, prefixes.shape[1] :])
    n = len(prefixes)
    return {
        "seconds_per_answer": elapsed / n,
        "nfe_per_batch": nfe / (n // batch),
        "tokens_per_second": n * gen_length / elapsed,
        "peak_extra_mb": memory.peak / 2**20,
        "outputs": torch.cat(outputs),
    }


@torch.no_grad()
def time_autoregressive(ar, prefixes, gen_length, batch, eos_id, static=False):
    """Greedy AR decoding with the KV cache, forced to exactly ``gen_length`` new tokens.

    ``static``: transformers' static cache, with which ``generate`` compiles the forward on CUDA
    (timed after one untimed batch, which pays for the compilation).
    """
    elapsed, device = 0.0, prefixes.device
    options = {"cache_implementation": "static"} if static else {}

    def decode(ids):
        """Greedy ``generate`` of exactly ``gen_length`` tokens."""
        ar.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=gen_length,
            min_new_tokens=gen_length,
            do_sample=False,
            pad_token_id=eos_id,
            eos_token_id=None,
            **options,
        )

    if static:
        decode(prefixes[:batch])
    with peak_memory(device) as memory:
        for i in range(0, len(prefixes), batch):
            ids = prefixes[i : i + batch]
            start = now(device)
            decode(ids)
            elapsed += now(device) - start
    n = len(prefixes)
    return {
        "seconds_per_answer": elapsed / n,
        "nfe_per_batch": gen_length,
        "tokens_per_second": n * gen_length / elapsed,
        "peak_extra_mb": memory.peak / 2**20,
    }


@torch.no_grad()
def warm_up(llm, ar, prefix, ids):
    """One untimed short decode of each kind, so that no timed row pays for first-call setup
    (CUDA context and library handles, kernel choice, lazy allocations)."""
    for options in ({}, {"cache": "dual"}, {"cache": "prefix"}):
        generate(llm, prefix, steps=2, gen_length=4, block_length=4, mask_id=ids["mask"], **options)
    ar.generate(
        prefix,
        attention_mask=torch.ones_like(prefix),
        max_new_tokens=2,
        min_new_tokens=2,
        do_sample=False,
        pad_token_id=ids["eos"],
        eos_token_id=None,
    )


def memory_bandwidth(device, megabytes=None, repeats=5):
    """Bytes per second this device's memory moves: the best of ``repeats`` copies of a large buffer.

    A copy reads and writes every byte once, so it moves twice the buffer's size.

    Example
    -------
    >>> memory_bandwidth("cpu", megabytes=8, repeats=2) > 1e8
    True
    """
    megabytes = megabytes or (1024 if torch.device(device).type == "cuda" else 256)
    source = torch.empty(megabytes * 2**20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    target.copy_(source)
    best = float("inf")
    for _ in range(repeats):
        start = now(device)
        target.copy_(source)
        best = min(best, now(device) - start)
    return 2 * source.numel() / best


def weight_read_floor(llm, device):
    """The physical floor of one pass: reading every weight once (parameter bytes ÷ measured bandwidth).

    Example
    -------
    >>> llm = LLaDA({"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden_size": 32,
    ...              "vocab_size": 20, "mask_token_id": 19, "eos_token_id": 18})
    >>> floor = weight_read_floor(llm, "cpu")
    >>> floor["parameter_bytes"], floor["ms"] > 0
    (12992, True)
    """
    parameter_bytes = sum(p.numel() * p.element_size() for p in llm.parameters())
    bandwidth = memory_bandwidth(device)
    return {
        "parameter_bytes": parameter_bytes,
        "bandwidth_gb_per_s": bandwidth / 1e9,
        "ms": 1000 * parameter_bytes / bandwidth,
    }


def answers_text(out, ids):
    """Answer tokens up to the first EOS/EoT (what a user would read)."""
    result = []
    for row in out.tolist():
        cut = [i for i, t in enumerate(row) if t in (ids["eos"], ids["eot"])]
        result.append(tuple(row[: cut[0]] if cut else row))
    return result


def machine(args):
    """Where the benchmark ran.

    Example
    -------
    >>> machine(argparse.Namespace(threads=2, device="cpu", dtype="float32"))["device"]
    'cpu'
    """
    return {
        "cpu": platform.processor() or platform.machine(),
        "threads": args.threads,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "dtype": args.dtype,
        "torch": torch.__version__,
    }


def run(args):
    """The whole benchmark; returns the JSON-able report."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    ids = special_ids(args.vocab)
    dtype = getattr(torch, args.dtype)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build in the target dtype: an 8B model never exists in fp32
    try:
        with torch.device(args.device):
            llm = LLaDA(
                {
                    "d_model": args.width,
                    "n_layers": args.layers,
                    "n_heads": args.heads,
                    "mlp_hidden_size": 3 * args.width,
                    "vocab_size": args.vocab,
                    "embedding_size": args.vocab,
                    "rope_theta": 500000.0,
                    "mask_token_id": ids["mask"],
                    "eos_token_id": ids["eos"],
                    "pad_token_id": ids["eos"],
                    "init_std": 0.02,
                }
            )
    finally:
        torch.set_default_dtype(default_dtype)
    tasks = {16: 6, 128: 100}  # answer length -> real tokens before EOT (MCQ option text; transcript)
    data = {
        g: tuple(t.to(args.device) for t in make_data(args.items, g, tasks[g], ids, args.seed + g))
        for g in args.gen_lengths
    }
    start = time.perf_counter()
    final_loss = fit(llm, [data[g] for g in args.gen_lengths], args.fit_steps, ids["mask"], seed=args.seed)
    fit_seconds = time.perf_counter() - start
    ar = ar_twin(llm)
    warm_up(llm, ar, data[args.gen_lengths[0]][0][:1], ids)
    rows = []
    for g in args.gen_lengths:
        prefixes, answers = data[g]
        n_ref = min(args.reference_items.get(g, args.items), args.items)
        reference = None  # the reference sampler's answers (first n_ref items)
        for batch in args.batches:
            for name, options in CONFIGS:
                if args.decoders and name != "reference" and name not in args.decoders:
                    continue
                items = prefixes
                if name == "reference":
                    if reference is not None and args.skip_slow:
                        continue  # batching leaves the reference's answers unchanged; only its time is skipped
                    items = prefixes[:n_ref]
                result = time_diffusion(llm, items, g, min(batch, len(items)), options, ids)
                outputs = answers_text(result.pop("outputs"), ids)
                if reference is None:
                    reference = outputs
                result["items"] = len(items)
                result["matches_fitted_answer"] = sum(
                    o == t for o, t in zip(outputs, answers_text(answers, ids))
                ) / len(outputs)
                result["differs_from_reference"] = sum(o != r for o, r in zip(outputs, reference)) / n_ref
                rows.append({"gen_length": g, "batch": batch, "decoder": name, "options": options, **result})
                print(json.dumps(rows[-1]), flush=True)
            for name, static in ((AR_PLAIN, False), (AR_COMPILED, True)):
                if static and args.skip_ar_compiled:
                    continue
                rows.append(
                    {
                        "gen_length": g,
                        "batch": batch,
                        "decoder": name,
                        "items": len(prefixes),
                        **time_autoregressive(ar, prefixes, g, batch, ids["eos"], static=static),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    floor = weight_read_floor(llm, args.device)
    for row in rows:
        base = next(r for r in rows if r["gen_length"] == row["gen_length"] and r["decoder"] == "reference")
        row["speedup_vs_reference"] = base["seconds_per_answer"] / row["seconds_per_answer"]
        row["ms_per_pass"] = 1000 * row["seconds_per_answer"] * row["batch"] / row["nfe_per_batch"]
        row["passes_over_floor"] = row["ms_per_pass"] / floor["ms"]
    return {
        "machine": machine(args),
        "weight_read_floor": floor,
        "model": {
            "width": args.width,
            "layers": args.layers,
            "heads": args.heads,
            "vocab": args.vocab,
            "parameters": sum(p.numel() for p in llm.parameters()),
            "prefix_positions": AUDIO_POSITIONS + PROMPT_TOKENS,
        },
        "fit": {"steps": args.fit_steps, "final_loss": final_loss, "seconds": fit_seconds},
        "items": args.items,
        "rows": rows,
    }


# Decoders timed on a trained model (the answer presets first after the reference), taken from
# CONFIGS; each starts from the reference sampler (every fast option off) as the benchmark runner does.
TRAINED_DECODERS = (
    "reference",
    "eos early stop (answer preset)",
    "dual cache + eos stop (answer-cached preset)",
    "factor 0.5 + dual cache + eos stop (answer-fast preset)",
    "factor 1.0 + dual cache + eos stop",
    "threshold 0.9 + dual cache + eos stop",
    LIMIT,
)
TRAINED_CONFIGS = [(name, {**REFERENCE_DECODING, **dict(CONFIGS)[name]}) for name in TRAINED_DECODERS]


def trained_model_rows(model_dir, data_dir, n_items, batches, device="cpu"):
    """How many passes a *trained* model needs: decode an MMAU-format test with a model folder.

    A confident model commits several tokens per pass; how many is what decides the fast
    decoders' speed, and only a trained model can say (e.g. the demo's final model and held-out
    test: ``results/demo/eval/stage4_vrpo/model`` and ``results/demo/data``). Reported per decoder
    and batch size: seconds per answer, mean and histogram of forward passes per batch,
    accuracy (MMAU string match) and answers equal to the reference sampler's. On a GPU the
    folder's ``precision: auto`` decodes under bf16 autocast.
    """
    from speechbrain_diffa.data.audio import batch_waveforms, load_audio
    from speechbrain_diffa.evaluation.benchmarks import prepare
    from speechbrain_diffa.evaluation.scoring import mmau_match
    from speechbrain_diffa.inference import DIFFA2
    from speechbrain_diffa.prompts import MMAU_PROMPT, build_prompt

    model = DIFFA2.from_hparams(source=model_dir, run_opts={"device": device})
    items = prepare("mmau", data_dir, unofficial="an MMAU-format test").items[:n_items]
    audio = [load_audio(item.audio) for item in items]
    prompts = [build_prompt(MMAU_PROMPT, item.question, item.choices) for item in items]
    rows, reference = [], None
    for batch in batches:
        for name, options in TRAINED_CONFIGS:
            decoding = preset(BENCHMARK_PRESETS["mmau"], **options)
            answers, passes, elapsed = [], [], 0.0
            for i in range(0, len(items), batch):
                wavs, lens = batch_waveforms(audio[i : i + batch])
                stats = {}
                start = now(model.device)
                answers += model.answer_batch(wavs, lens, prompts[i : i + batch], stats=stats, **decoding)
                elapsed += now(model.device) - start
                passes.append(stats["nfe"])
            reference = answers if reference is None else reference
            rows.append(
                {
                    "batch": batch,
                    "decoder": name,
                    "options": options,
                    "items": len(items),
                    "seconds_per_answer": elapsed / len(items),
                    "nfe_per_batch": sum(passes) / len(passes),
                    "nfe_histogram": {str(k): passes.count(k) for k in sorted(set(passes))},
                    "accuracy": sum(mmau_match(a, it.choices, it.answer) for a, it in zip(answers, items)) / len(items),
                    "same_answer_as_reference": sum(a == r for a, r in zip(answers, reference)) / len(items),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def trained_markdown_table(rows):
    """The trained-model rows as a Markdown table."""
    lines = [
        "| batch | decoder | s/answer | NFE/batch (mean) | NFE histogram | accuracy | same answer as reference |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['batch']} | {r['decoder']} | {r['seconds_per_answer']:.4f} | {r['nfe_per_batch']:.2f} | "
            f"{r['nfe_histogram']} | {r['accuracy']:.1%} | {r['same_answer_as_reference']:.1%} |"
        )
    return "\n".join(lines)


def markdown_table(report):
    """The report as a Markdown table."""
    floor = report.get("weight_read_floor")
    lines = []
    if floor:
        lines += [
            f"Weight-read floor of one pass: {floor['parameter_bytes'] / 1e6:.1f} MB of parameters at "
            f"{floor['bandwidth_gb_per_s']:.1f} GB/s (measured) = {floor['ms']:.3f} ms.",
            "",
        ]
    lines += [
        "| answer | batch | decoder | s/answer | NFE/batch | ms/pass | × floor | tokens/s | peak extra MB | vs "
        f"reference (batch {report['rows'][0]['batch']}) | answers ≠ reference |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        differs = r.get("differs_from_reference")
        per_pass = f"{r['ms_per_pass']:.2f} | {r['passes_over_floor']:.1f}" if "ms_per_pass" in r else " | "
        lines.append(
            f"| {r['gen_length']} | {r['batch']} | {r['decoder']} | {r['seconds_per_answer']:.3f} | "
            f"{r['nfe_per_batch']:.1f} | {per_pass} | {r['tokens_per_second']:.1f} | {r['peak_extra_mb']:.0f} | "
            f"{r['speedup_vs_reference']:.1f}× | {'' if differs is None else f'{differs:.0%}'} |"
        )
    return "\n".join(lines)


def main(argv=None):
    """Command line."""
    parser = argparse.ArgumentParser(description="Time diffusion decoding options against the reference and AR.")
    parser.add_argument("--output", default="results/decoding_benchmark.json")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=LLADA_VOCAB)
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--gen_lengths", type=int, nargs="+", default=[16, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--fit_steps", type=int, default=250)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--device",
        default="cpu",
        help="e.g. cuda; 8B shapes: --width 4096 --layers 32 --heads 32 --dtype bfloat16 --fit_steps 0",
    )
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--reference_items",
        type=json.loads,
        default={},
        help="JSON {answer_length: n}: time the (slow) reference on the first n items only, "
        "and compare the other decoders with it on those items; e.g. '{\"128\": 2}'",
    )
    parser.add_argument(
        "--skip_slow",
        action="store_true",
        help="time the reference at the first batch size only (it is the slowest row)",
    )
    parser.add_argument(
        "--trained_model",
        help="also decode with this trained model folder (e.g. the demo's "
        "results/demo/eval/stage4_vrpo/model) to measure how many passes a trained model needs",
    )
    parser.add_argument(
        "--trained_data", help="folder with the MMAU-format test for --trained_model (e.g. results/demo/data)"
    )
    parser.add_argument("--trained_items", type=int, default=120)
    parser.add_argument(
        "--decoders",
        nargs="+",
        metavar="NAME",
        help="time only these decoders (names as in the table) besides the reference and AR",
    )
    parser.add_argument(
        "--trained_only", action="store_true", help="skip the synthetic model's rows (only --trained_model's)"
    )
    parser.add_argument(
        "--skip_ar_compiled", action="store_true", help="leave out the AR baseline on transformers' static cache"
    )
    args = parser.parse_args(argv)
    args.reference_items = {int(k): int(v) for k, v in args.reference_items.items()}
    if bool(args.trained_model) != bool(args.trained_data):
        parser.error("--trained_model and --trained_data go together")
    if args.trained_only and not args.trained_model:
        parser.error("--trained_only needs --trained_model and --trained_data")
    unknown = set(args.decoders or ()) - {name for name, _ in CONFIGS}
    if unknown:
        parser.error(f"unknown --decoders {sorted(unknown)}; choose from {[name for name, _ in CONFIGS]}")
    report = {"machine": machine(args), "rows": []} if args.trained_only else run(args)
    if args.trained_model:
        report["trained_model"] = {
            "model": args.trained_model,
            "data": args.trained_data,
            "rows": trained_model_rows(
                args.trained_model, args.trained_data, args.trained_items, args.batches, args.device
            ),
        }
    table = markdown_table(report) if report["rows"] else ""
    if "trained_model" in report:
        table += ("\n\n" if table else "") + "Trained model " + report["trained_model"]["model"] + ":\n\n"
        table += trained_markdown_table(report["trained_model"]["rows"])
    write_report(report, table, args.output)
    return report


def write_report(report, table, output):
    """Write a benchmark's report as JSON at ``output`` and its table beside it (``.md``), and print the table.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_report({"rows": []}, "| a |", os.path.join(folder, "bench.json"))
    | a |
    >>> sorted(os.listdir(folder))
    ['bench.json', 'bench.md']
    """
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump(report, f, indent=2)
    with open(os.path.splitext(output)[0] + ".md", "w") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
