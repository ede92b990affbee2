"""Decode a prepared benchmark in batches, resumably and sharded, then merge and score.

::

    items ─► shard (rank r of W: items[r::W]) ─► skip ids already in any prediction file
          ─► batches: load audio ─► prompt ─► answerer.answer_batch ─► append JSONL (+fsync)
          ─► all shards complete ─► predictions.jsonl ─► report.json / report.md / report.png

An *answerer* is any object with ``answer_batch(wavs, wav_lens, questions, **decoding) -> list of
str`` and, optionally, a ``description`` dict recorded in the output (:class:`ModelAnswerer` wraps
a :class:`speechbrain_diffa.model.DIFFA2Model`; :func:`load_answerer` loads a model folder).

Prediction files start with a header line ``{"run": settings}`` (benchmark, version, model,
decoding, prompt, batch size, world size) followed by ``{"id": ..., "prediction": ...}`` lines.
A re-run reads every prediction file in the output folder, refuses one made with other settings,
drops a truncated last line left by a crash, and decodes only what is missing. Batches are cut
from the shard's full item list, so a resumed run pads the same batches as an uninterrupted one.

Authors
 * speechbrain_diffa contributors 2026
"""

import glob
import json
import logging
import os

from speechbrain_diffa.data.audio import AudioError, batch_waveforms, load_audio
from speechbrain_diffa.decoding_presets import BENCHMARK_PRESETS, preset
from speechbrain_diffa.evaluation import scoring
from speechbrain_diffa.evaluation.report import write_reports
from speechbrain_diffa.prompts import PROMPTS, build_prompt

logger = logging.getLogger(__name__)

MERGED = "predictions.jsonl"
# Settings that change what the model outputs: predictions made under other values are not reused.
PREDICTION_SETTINGS = ("benchmark", "split", "version", "model", "decoding", "prompt", "batch_size")


class ModelAnswerer:
    """An answerer around a :class:`~speechbrain_diffa.model.DIFFA2Model` (its ``answer`` method).

    Example
    -------
    >>> import torch
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
    >>> answerer = ModelAnswerer(make_tiny_diffa2(getfixture("tmpdir")).eval(), name="tiny")
    >>> answerer.answer_batch(torch.zeros(1, 8000), torch.ones(1), ["Which?"], steps=2, gen_length=2,
    ...                       block_length=2)[0].__class__.__name__
    'str'
    >>> answerer.description
    {'class': 'DIFFA2Model', 'name': 'tiny', 'stage': 2}
    """

    def __init__(self, model, name=None):
        self.model = model
        self.description = {"class": type(model).__name__, "name": name, "stage": getattr(model, "stage", None)}

    def answer_batch(self, wavs, wav_lens, questions, **decoding):
        """Answers for a batch of ``(batch, samples)`` waveforms and one question each."""
        device = next(self.model.parameters()).device
        return self.model.answer(wavs.to(device), wav_lens.to(device), questions, **decoding)


def load_answerer(model_dir, device="cpu", compile=False):
    """Load ``speechbrain_diffa.inference.DIFFA2`` from a model folder (imported lazily).

    ``compile`` is the interface's run option (the static cache; CUDA graphs on a GPU).

    Example
    -------
    >>> try:
    ...     load_answerer("/no/such/model")
    ... except (RuntimeError, OSError, ValueError) as e:
    ...     print(type(e).__name__)
    RuntimeError
    """
    try:
        from speechbrain_diffa.inference import DIFFA2
    except ImportError as e:
        raise RuntimeError(
            "--model needs speechbrain_diffa.inference.DIFFA2, which this installation does not have; "
            "call speechbrain_diffa.evaluation.runner.run_benchmark with an answerer from Python instead"
        ) from e
    if not os.path.isdir(model_dir):
        raise RuntimeError(f"Model folder not found: {model_dir}")
    answerer = DIFFA2.from_hparams(source=model_dir, savedir=model_dir, run_opts={"device": device, "compile": compile})
    if not getattr(answerer, "description", None):
        answerer.description = {"class": "DIFFA2", "source": os.path.abspath(model_dir)}
    return answerer


def shard_from_env(rank=None, world_size=None):
    """``(rank, world_size)`` from the arguments, else torchrun's ``RANK``/``WORLD_SIZE``, else (0, 1).

    Example
    -------
    >>> shard_from_env(), shard_from_env(1, 2)
    ((0, 1), (1, 2))
    """
    rank = int(os.environ.get("RANK", 0)) if rank is None else rank
    world_size = int(os.environ.get("WORLD_SIZE", 1)) if world_size is None else world_size
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    return rank, world_size


def prediction_path(out_dir, rank, world_size):
    """``predictions.jsonl`` for one process, ``predictions.rank{r}.jsonl`` for a shard.

    Example
    -------
    >>> prediction_path("out", 0, 1), prediction_path("out", 3, 8)
    ('out/predictions.jsonl', 'out/predictions.rank3.jsonl')
    """
    return os.path.join(out_dir, MERGED if world_size == 1 else f"predictions.rank{rank}.jsonl")


def read_predictions(path, repair=False):
    """Read a prediction file: ``(settings, {id: prediction})``.

    A last line without its newline that does not parse is what a crash leaves behind: it is
    ignored (and cut off when ``repair``). Any other bad line is an error naming file and line.

    Example
    -------
    >>> path = getfixture("tmpdir").strpath + "/p.jsonl"
    >>> with open(path, "w") as f:
    ...     _ = f.write('{"run": {"benchmark": "mmar"}}\\n{"id": "a", "prediction": "x"}\\n{"id": "b", "pre')
    >>> read_predictions(path, repair=True)
    ({'benchmark': 'mmar'}, {'a': 'x'})
    >>> open(path).read().endswith('"x"}\\n')
    True
    """
    with open(path, "rb") as f:
        data = f.read()
    head, newline, tail = data.rpartition(b"\n")
    lines = (head + newline).split(b"\n")[:-1]
    if tail.strip():  # text after the last newline: an interrupted write
        try:
            json.loads(tail)
            lines.append(tail)
            fix = "newline"
        except (json.JSONDecodeError, UnicodeDecodeError):
            logger.warning("%s: ignoring a truncated last line (an interrupted write)", path)
            fix = "truncate"
        if repair:
            with open(path, "r+b") as f:
                if fix == "truncate":
                    f.truncate(len(head + newline))
                else:
                    f.seek(0, os.SEEK_END)
                    f.write(b"\n")
    settings, predictions = None, {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path}, line {number}: not valid JSON ({e})") from e
        if number == 1 and isinstance(record, dict) and "run" in record:
            settings = record["run"]
        elif isinstance(record, dict) and all(isinstance(record.get(k), str) for k in ("id", "prediction")):
            predictions[record["id"]] = record["prediction"]
        else:
            raise ValueError(f"{path}, line {number}: expected {{'id': str, 'prediction': str}}, got {record!r}")
    return settings, predictions


def _check_settings(path, found, settings):
    """Refuse predictions made with different settings."""
    if found is None:
        raise ValueError(f"{path}: no settings header line; not a prediction file of this runner")
    for key in PREDICTION_SETTINGS:
        if found.get(key) != settings.get(key):
            raise ValueError(
                f"{path} was made with {key}={found.get(key)!r}, this run has {settings.get(key)!r}; "
                "use another output folder (or delete the old predictions) to start afresh"
            )


def collect_predictions(out_dir, settings, repair=None):
    """Every prediction in ``out_dir`` (merged file and shard files), checked against ``settings``.

    Only the file ``repair`` (this process's own) is repaired; other ranks may be writing theirs.
    """
    predictions = {}
    paths = sorted(glob.glob(os.path.join(out_dir, "predictions.rank*.jsonl")))
    paths += [p for p in [os.path.join(out_dir, MERGED)] if os.path.isfile(p)]
    for path in paths:
        found, preds = read_predictions(path, repair=path == repair)
        if preds or found is not None:
            _check_settings(path, found, settings)
        predictions.update(preds)
    return predictions


def _append(path, settings, rows):
    """Append ``rows`` (id, prediction) to a prediction file, writing the header first if new."""
    new = not os.path.isfile(path) or os.path.getsize(path) == 0
    with open(path, "a", encoding="utf-8") as f:
        if new:
            f.write(json.dumps({"run": settings}, ensure_ascii=False) + "\n")
        for rid, text in rows:
            f.write(json.dumps({"id": rid, "prediction": text}, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_settings(prepared, answerer, batch_size, prompt=None, decoding=None):
    """The settings recorded with the predictions and in the report.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import PreparedSet
    >>> s = run_settings(PreparedSet("mmsu", "mmsu.jsonl", [], []), object(), 8)
    >>> s["decoding"]["steps"], s["decoding"]["factor"], s["model"]  # DIFFA-2's MMSU schedule, reference sampler
    (4, None, {'class': 'object'})
    """
    return {
        "benchmark": prepared.benchmark,
        "split": prepared.split,
        "version": prepared.version,
        "release": prepared.release,
        "source": os.path.abspath(prepared.source),
        "model": getattr(answerer, "description", None) or {"class": type(answerer).__name__},
        "decoding": preset(BENCHMARK_PRESETS[prepared.benchmark], **(decoding or {})),
        "prompt": prompt or PROMPTS[prepared.benchmark],
        "batch_size": batch_size,
        "scorer_version": scoring.SCORER_VERSION,
        "official_scorer": scoring.OFFICIAL_SOURCES.get(prepared.benchmark, "SpeechBrain ErrorRateStats"),
    }


UNREADABLE = "unreadable.jsonl"  # items left out because their audio could not be read (allow_incomplete)


def _load_batch(items, out_dir, skip_unreadable=False):
    """The readable items of a batch and their waveforms (None if none is readable).

    An unreadable file stops the run naming the item, unless ``skip_unreadable``: then the item
    is logged, appended to ``out_dir/unreadable.jsonl``, and left without a prediction (a later
    run tries it again).
    """
    waves, kept = [], []
    for item in items:
        try:
            waves.append(load_audio(item.audio))
            kept.append(item)
        except AudioError as e:
            if not skip_unreadable:
                raise AudioError(f"item {item.id!r}: {e} (allow_incomplete scores the run without it)") from e
            logger.warning("item %r left without a prediction: %s", item.id, e)
            with open(os.path.join(out_dir, UNREADABLE), "a", encoding="utf-8") as f:
                f.write(json.dumps({"id": item.id, "problem": str(e)}, ensure_ascii=False) + "\n")
    return kept, (batch_waveforms(waves) if waves else None)


def decode_shard(
    prepared, answerer, out_dir, settings, rank=0, world_size=1, max_batches=None, progress=True, skip_unreadable=False
):
    """Decode this rank's share of ``prepared.items`` that has no prediction yet.

    Returns True when the shard is done (``skip_unreadable``: items whose audio is unreadable are
    left out, see :func:`_load_batch`), False when stopped by ``max_batches``.
    """
    from tqdm import tqdm

    shard = prepared.items[rank::world_size]
    path = prediction_path(out_dir, rank, world_size)
    done = collect_predictions(out_dir, settings, repair=path)
    size = settings["batch_size"]
    batches = [shard[i : i + size] for i in range(0, len(shard), size)]
    todo = [[item for item in batch if item.id not in done] for batch in batches]
    todo = [batch for batch in todo if batch]
    bar = tqdm(
        total=len(shard),
        initial=len(shard) - sum(map(len, todo)),
        disable=not progress,
        desc=f"{prepared.benchmark} rank {rank}/{world_size}",
    )
    for number, batch in enumerate(todo):
        if max_batches is not None and number >= max_batches:
            bar.close()
            return False
        readable, waves = _load_batch(batch, out_dir, skip_unreadable)
        if readable:
            questions = [build_prompt(settings["prompt"], item.question, item.choices) for item in readable]
            answers = answerer.answer_batch(*waves, questions, **settings["decoding"])
            if len(answers) != len(readable):
                raise RuntimeError(f"answerer returned {len(answers)} answers for a batch of {len(readable)}")
            _append(path, settings, [(item.id, str(text)) for item, text in zip(readable, answers)])
        bar.update(len(batch))
    bar.close()
    return True


def merge_and_report(prepared, out_dir, settings, mode="strict", allow_incomplete=False):
    """Merge every prediction file into ``predictions.jsonl`` (item order) and write the reports.

    Refuses to score when predictions are missing, unless ``allow_incomplete`` (then the report
    counts them: wrong in strict mode, skipped where the official script skips them). Without a
    process group, the shard that finishes last merges; call this once (``--merge``) if in doubt.
    """
    predictions = collect_predictions(out_dir, settings)
    missing = [item.id for item in prepared.items if item.id not in predictions]
    if missing and not allow_incomplete:
        raise RuntimeError(
            f"{len(missing)} of {len(prepared.items)} items have no prediction in {out_dir} "
            f"(first: {missing[:5]}); finish decoding, or pass allow_incomplete to score anyway"
        )
    if missing:
        logger.warning("%d items have no prediction; scoring the rest (mode %s)", len(missing), mode)
    ordered = [(item.id, predictions[item.id]) for item in prepared.items if item.id in predictions]
    tmp = os.path.join(out_dir, MERGED + ".tmp")
    if os.path.exists(tmp):
        os.remove(tmp)
    _append(tmp, settings, ordered)
    os.replace(tmp, os.path.join(out_dir, MERGED))
    for path in glob.glob(os.path.join(out_dir, "predictions.rank*.jsonl")):
        os.remove(path)
    recorded = dict(settings, mode=mode)
    return write_reports(out_dir, prepared, dict(ordered), recorded, mode)


def _distributed():
    """``torch.distributed`` when a process group is initialised, else None."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def run_benchmark(
    prepared,
    answerer,
    out_dir,
    batch_size=8,
    prompt=None,
    decoding=None,
    rank=None,
    world_size=None,
    mode="strict",
    max_batches=None,
    allow_incomplete=False,
    progress=True,
):
    """Decode ``prepared`` with ``answerer`` into ``out_dir`` and score it.

    Arguments
    ---------
    prepared : speechbrain_diffa.evaluation.benchmarks.PreparedSet
        From :func:`~speechbrain_diffa.evaluation.benchmarks.prepare` (checked with ``check_complete``).
    answerer : object
        Has ``answer_batch(wavs, wav_lens, questions, **decoding)``.
    out_dir : str
        Predictions and reports go here; existing predictions are resumed.
    batch_size : int
        Items per ``answer_batch`` call.
    prompt : str
        Template with ``{question}`` / ``{choices}`` (default: DIFFA-2's for the benchmark).
    decoding : dict
        Overrides of DIFFA-2's decoding settings for the benchmark (steps, gen_length, ...).
    rank, world_size : int
        Shard (default: torchrun's environment, else a single process).
    mode : str
        One of :data:`~speechbrain_diffa.evaluation.scoring.MODES`: the mode of ``report.json``'s top
        level (every mode is computed and reported).
    max_batches : int
        Stop after this many batches (for tests and partial runs); returns None.
    allow_incomplete : bool
        Score even when some items have no prediction (the report counts them); an item whose
        audio cannot be read is then left out (listed in ``out_dir/unreadable.jsonl``) instead of
        stopping the run.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict or None
        The report (on the process that merged), else None.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import Item, PreparedSet
    >>> class Always:
    ...     def answer_batch(self, wavs, wav_lens, questions, **decoding):
    ...         return ["B"] * len(questions)
    >>> import torch
    >>> from speechbrain.dataio import audio_io
    >>> tmp = getfixture("tmpdir").strpath
    >>> audio_io.save(tmp + "/a.wav", torch.rand(1, 1600) - 0.5, 16000)
    >>> items = [Item(f"q{i}", tmp + "/a.wav", "?", ["yes", "no"], ["yes", "no"][i % 2]) for i in range(3)]
    >>> report = run_benchmark(PreparedSet("mmar", tmp, items, []), Always(), tmp + "/out", progress=False)
    >>> report["overall"], report["mode"], report["run"]["decoding"]["steps"]  # a bare "B" is not an answer
    (0.0, 'strict', 16)
    >>> round(report["modes"]["letter-mapped"]["overall"], 2)  # mapped to option B, "no"
    33.33
    """
    rank, world_size = shard_from_env(rank, world_size)
    os.makedirs(out_dir, exist_ok=True)
    settings = run_settings(prepared, answerer, batch_size, prompt, decoding)
    done = decode_shard(
        prepared, answerer, out_dir, settings, rank, world_size, max_batches, progress, skip_unreadable=allow_incomplete
    )
    if not done:
        logger.info("Stopped after %d batches; run again to resume", max_batches)
        return None
    dist = _distributed()
    if dist is not None and world_size > 1:
        dist.barrier()
        if rank != 0:
            return None
    elif world_size > 1:
        predictions = collect_predictions(out_dir, settings)
        if any(item.id not in predictions for item in prepared.items):
            logger.info("Rank %d done; other shards still running (merge when all are done)", rank)
            return None
    return merge_and_report(prepared, out_dir, settings, mode, allow_incomplete)
