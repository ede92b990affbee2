"""Score predictions and write reports: ``report.json``, ``report.md`` and ``report.png``.

Accuracy is a micro-average over items, overall and per category field (MMAU task, category,
sub-category, difficulty; MMAR modality, layer, sub-category; MMSU category, sub-category and
their cross, sub-sub-category, linguistics sub-discipline, task). Each report says which mode
(:data:`speechbrain_diffa.evaluation.scoring.MODES`) it uses and counts items scored,
unparseable, skipped and missing. LibriSpeech gets a WER from SpeechBrain's ``ErrorRateStats``.

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import os
from collections import defaultdict

from speechbrain_diffa.evaluation import scoring
from speechbrain_diffa.evaluation.charts import accuracy_chart
from speechbrain_diffa.evaluation.published import published_rows, published_table

PREDICTION_KEYS = {"mmau": "model_output", "mmar": "answer_prediction", "mmsu": "response"}


def score_item(benchmark, item, prediction, mode="strict"):
    """Score one multiple-choice item in one of :data:`~scoring.MODES`; ``prediction`` None: none was made.

    Returns
    -------
    dict
        ``correct`` (bool), ``counted`` (in the denominator), ``missing``, ``unparseable``, and
        ``scored`` (the text matched, after letter mapping; MMSU: the letter read).

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import Item
    >>> item = Item("q", "q.wav", "Who?", ["Man", "Woman"], "Woman")
    >>> score_item("mmau", item, "B", mode="letter-mapped")["correct"], score_item("mmau", item, "B")["correct"]
    (True, False)
    >>> score_item("mmau", item, None, mode="official")["counted"], score_item("mmau", item, None)["counted"]
    (False, True)
    >>> out = score_item("mmsu", item, "I think so", mode="official")
    >>> out["counted"], out["unparseable"]
    (False, True)
    """
    if mode not in scoring.MODES:
        raise ValueError(f"mode must be one of {scoring.MODES}, got {mode!r}")
    strict = mode != "official"
    out = {"correct": False, "counted": True, "missing": prediction is None, "unparseable": False, "scored": None}
    if benchmark == "mmsu":
        # The official script reads an absent response as "" (counted wrong), so both modes count it.
        text = prediction or ""
        letter = scoring.mmsu_letter(text)
        out["scored"] = letter
        out["unparseable"] = letter is None and not out["missing"]
        if letter is None:
            out["counted"] = strict or scoring.mmsu_is_blank(text)
        else:
            index = scoring.MMSU_LETTERS.index(letter)
            out["correct"] = index < len(item.choices) and item.choices[index] == item.answer
        return out
    if prediction is None:
        out["counted"] = strict  # MMAU/MMAR official scripts skip records without a prediction
        return out
    text = scoring.letter_to_choice(prediction, item.choices) if mode == "letter-mapped" else prediction
    out["scored"] = text
    out["unparseable"] = not scoring.mmau_words(text)
    out["correct"] = scoring.mmau_match(text, item.choices, item.answer)
    return out


def _group_keys(benchmark, item):
    """``[(field, value)]`` the item is counted under."""
    keys = [(k, v) for k, v in item.groups.items() if v not in (None, "")]
    if benchmark == "mmsu" and item.groups.get("sub-category"):
        keys.append(("category / sub-category", f"{item.groups['category']} / {item.groups['sub-category']}"))
    return keys


def _percent(correct, total):
    return 100.0 * correct / total if total else None


def accuracy_report(prepared, predictions, mode="strict"):
    """Accuracy of ``predictions`` (id -> text) on a prepared multiple-choice set.

    Items whose audio was missing count as missing predictions; in strict mode records that could
    not be read at all count as wrong in the overall number too.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import Item, PreparedSet
    >>> items = [Item(str(i), "a.wav", "?", ["yes", "no"], "yes", {"task": "sound"}) for i in range(4)]
    >>> data = PreparedSet("mmau", "x.json", items, [], version="v05.15.25", split="test-mini")
    >>> preds = {"0": "yes", "1": "A", "2": "no"}
    >>> r = accuracy_report(data, preds)
    >>> r["overall"], r["items_scored"], r["items_missing"], r["per_category"]["task"]["sound"]["total"]
    (25.0, 4, 1, 4)
    >>> official, mapped = (accuracy_report(data, preds, mode)["overall"] for mode in ("official", "letter-mapped"))
    >>> round(official, 2), mapped
    (33.33, 50.0)
    """
    items = list(prepared.items) + list(prepared.unusable_items)
    if any(item.answer is None for item in items):
        return {
            "mode": mode,
            "overall": None,
            "note": "answers withheld (MMAU test): predictions written for submission, not scored",
            "items_predicted": sum(item.id in predictions for item in items),
            "items_total": len(items),
        }
    totals = [0, 0]
    groups = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    counts = {"unparseable": 0, "missing": 0, "skipped": 0}
    for item in items:
        out = score_item(prepared.benchmark, item, predictions.get(item.id), mode)
        counts["unparseable"] += out["unparseable"]
        counts["missing"] += out["missing"]
        if not out["counted"]:
            counts["skipped"] += 1
            continue
        totals[0] += out["correct"]
        totals[1] += 1
        for key, value in _group_keys(prepared.benchmark, item):
            groups[key][value][0] += out["correct"]
            groups[key][value][1] += 1
    unusable_ids = {item.id for item in prepared.unusable_items}
    malformed = len([i for i in prepared.bad_ids if i not in unusable_ids])
    if mode != "official":
        totals[1] += malformed
    return {
        "mode": mode,
        "meaning": scoring.MODE_MEANINGS[mode],
        "letter_to_text": mode == "letter-mapped" and prepared.benchmark != "mmsu",
        "overall": _percent(*totals),
        "correct": totals[0],
        "per_category": {
            key: {v: {"accuracy": _percent(c, t), "correct": c, "total": t} for v, (c, t) in sorted(vals.items())}
            for key, vals in groups.items()
        },
        "items_scored": totals[1],
        "items_unparseable": counts["unparseable"],
        "items_skipped": counts["skipped"],
        "items_missing": counts["missing"],
        "records_malformed": malformed,
        "records_total": prepared.num_records,
    }


WER_NORMALISATIONS = {
    "librispeech": "upper-cased, punctuation except apostrophes removed (LibriSpeech's own form of text)",
    "whisper": "transformers' Whisper EnglishTextNormalizer (numbers, spellings, contractions), as lmms-eval and "
    "the Open ASR Leaderboard score; without Whisper's British-to-American spelling map (normalizer.json), "
    "which transformers does not ship",
}
# DIFFA's ASR scoring: WeNet-style tools/compute-wer.py (case-insensitive) after a marker-removal step it does not
# release; the closest of ours is "librispeech".
PUBLISHED_WER_NORMALISATION = "librispeech"


def _error_rates(pairs):
    """SpeechBrain's ``ErrorRateStats`` summary of ``[(id, hypothesis tokens, reference tokens)]``."""
    from speechbrain.utils.metric_stats import ErrorRateStats

    stats = ErrorRateStats()
    for item_id, hyp, ref in pairs:
        stats.append([item_id], [hyp], [ref])
    return stats.summarize() if pairs else {}


def wer_report(prepared, predictions, mode="strict"):
    """Word error rate of transcripts with both normalisations (:data:`WER_NORMALISATIONS`), and CER.

    ``overall`` is the WER after the LibriSpeech normalisation (the closest to how DIFFA scored
    its published number); ``wer_whisper`` uses Whisper's English normaliser, which the field's
    tables use; ``cer`` counts characters (spaces included) after the LibriSpeech normalisation.
    Strict mode scores a missing transcript as empty (all deletions); official mode skips it
    (``letter-mapped`` is strict: there are no letters to map).

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import Item, PreparedSet
    >>> items = [Item("u1", "a.flac", "", None, "HELLO WORLD"), Item("u2", "b.flac", "", None, "GOOD DAY")]
    >>> data = PreparedSet("librispeech", "test-clean", items, [], split="test-clean")
    >>> r = wer_report(data, {"u1": "Hello, world!"})
    >>> r["overall"], r["items_missing"], wer_report(data, {"u1": "Hello, world!"}, "official")["overall"]
    (50.0, 1, 0.0)
    >>> money = [Item("u", "u.flac", "", None, "TWENTY FIVE DOLLARS MISTER SMITH")]
    >>> r = wer_report(PreparedSet("librispeech", "x", money, []), {"u": "$25, Mr. Smith."})
    >>> r["overall"], r["wer_whisper"], round(r["cer"], 1)
    (80.0, 0.0, 71.9)
    """
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    whisper = EnglishTextNormalizer({})
    ours, theirs, chars = [], [], []
    missing = 0
    for item in list(prepared.items) + list(prepared.unusable_items):
        hypothesis = predictions.get(item.id)
        missing += hypothesis is None
        if hypothesis is None and mode == "official":
            continue
        ref, hyp = scoring.normalize_transcript(item.answer), scoring.normalize_transcript(hypothesis or "")
        ours.append((item.id, hyp.split(), ref.split()))
        chars.append((item.id, list(hyp), list(ref)))
        theirs.append((item.id, whisper(hypothesis or "").split(), whisper(item.answer).split()))
    summary, whisper_summary, char_summary = _error_rates(ours), _error_rates(theirs), _error_rates(chars)
    return {
        "mode": mode,
        "metric": "WER %",
        "normalisation": WER_NORMALISATIONS["librispeech"],
        "overall": summary.get("WER"),
        "wer_whisper": whisper_summary.get("WER"),
        "whisper_normalisation": WER_NORMALISATIONS["whisper"],
        "cer": char_summary.get("WER"),
        "published_normalisation": PUBLISHED_WER_NORMALISATION,
        "insertions": summary.get("insertions"),
        "deletions": summary.get("deletions"),
        "substitutions": summary.get("substitutions"),
        "num_ref_words": summary.get("num_scored_tokens"),
        "items_scored": len(ours),
        "items_missing": missing,
        "records_malformed": len(prepared.bad_ids) - len(prepared.unusable_items),
        "records_total": prepared.num_records,
    }


def build_report(prepared, predictions, mode="strict"):
    """The report for any benchmark (accuracy, or WER for LibriSpeech).

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import Item, PreparedSet
    >>> data = PreparedSet("librispeech", "test-clean", [Item("u", "u.flac", "", None, "HI THERE")], [])
    >>> build_report(data, {"u": "hi there"})["overall"]
    0.0
    """
    if prepared.benchmark == "librispeech":
        return wer_report(prepared, predictions, mode)
    return accuracy_report(prepared, predictions, mode)


def _fmt(value):
    return "–" if value is None else f"{value:.2f}"


def markdown(report, modes=None, settings=None):
    """The report as Markdown: a header, the overall number of each mode (and what it means), per-category tables.

    Example
    -------
    >>> r = {"mode": "strict", "overall": 50.0, "items_scored": 2, "per_category": {
    ...     "task": {"sound": {"accuracy": 50.0, "correct": 1, "total": 2}}}}
    >>> print(markdown(r, settings={"benchmark": "mmar"}).splitlines()[0])
    # MMAR
    """
    settings = settings or {}
    name = settings.get("benchmark", "benchmark").upper()
    if settings.get("split"):
        name += f" {settings['split']}"
    if settings.get("version"):
        name += f" ({settings['version']})"
    metric = report.get("metric", "accuracy %")
    lines = [f"# {name}", ""]
    if settings:
        lines += [
            f"Model: `{json.dumps(settings.get('model'))}`  ",
            f"Decoding: `{json.dumps(settings.get('decoding'))}`  ",
            f"Scorer version {settings.get('scorer_version')}",
            "",
        ]
        if settings.get("release"):
            lines += [f"Release: {settings['release']}", ""]
    lines += [
        f"| mode | {metric} | items scored | unparseable | skipped | missing | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in (modes or {report["mode"]: report}).values():
        lines.append(
            f"| {r['mode']} | {_fmt(r.get('overall'))} | {r.get('items_scored', '')} | "
            f"{r.get('items_unparseable', '')} | {r.get('items_skipped', '')} | {r.get('items_missing', '')} | "
            f"{scoring.MODE_MEANINGS[r['mode']]} |"
        )
    if "wer_whisper" in report:
        lines += [
            "",
            "| normalisation | WER % | CER % |",
            "|---|---|---|",
            f"| LibriSpeech ({report['normalisation']}) | {_fmt(report['overall'])} | {_fmt(report['cer'])} |",
            f"| Whisper ({report['whisper_normalisation']}) | {_fmt(report['wer_whisper'])} | |",
            "",
            f"DIFFA's published WER is closest to the {report['published_normalisation']} normalisation.",
        ]
    if report.get("note"):
        lines += ["", report["note"]]
    for key, values in report.get("per_category", {}).items():
        lines += ["", f"## By {key} ({report['mode']})", ""]
        lines += ["| value | accuracy % | correct | total |", "|---|---|---|---|"]
        lines += [f"| {v} | {_fmt(s['accuracy'])} | {s['correct']} | {s['total']} |" for v, s in values.items()]
    benchmark, version = settings.get("benchmark", ""), settings.get("version") or ""
    table = published_table(benchmark, settings.get("split"), report.get("overall"), our_version=version)
    if table and metric.startswith("accuracy"):
        lines += ["", "## Published numbers", "", table]
    return "\n".join(lines) + "\n"


def chart_published(prepared):
    """``[(label, accuracy)]`` of the published numbers for the chart (MMAU rows name their version).

    Example
    -------
    >>> from types import SimpleNamespace
    >>> chart_published(SimpleNamespace(benchmark="mmau", split="test-mini"))[0]
    ('DIFFA-2, version not stated', 69.6)
    """
    rows = published_rows(prepared.benchmark, prepared.split)
    return [(f"{model}, {version}" if version else model, accuracy) for model, version, accuracy, _ in rows]


def chart_bars(report):
    """``[(label, value)]`` for the bar chart: overall, then the first grouping field's values.

    Example
    -------
    >>> chart_bars({"overall": 50.0, "per_category": {"task": {"sound": {"accuracy": 40.0}}}})
    [('overall', 50.0), ('sound', 40.0)]
    """
    bars = [("overall", report["overall"])]
    for _key, values in list(report.get("per_category", {}).items())[:1]:
        bars += [(str(v), s["accuracy"]) for v, s in values.items() if s["accuracy"] is not None]
    return bars


def official_input(prepared, predictions, path):
    """Write the benchmark records with each raw prediction under the official script's key.

    The file is what the official ``evaluation.py`` / ``mmsu_evaluation.py`` read, so running them
    on it gives our ``official`` mode's number (MMAU test: this is also the file to submit).
    """
    key = PREDICTION_KEYS[prepared.benchmark]
    records = []
    for item in list(prepared.items) + list(prepared.unusable_items):
        record = dict(item.record)
        if item.id in predictions:
            record[key] = predictions[item.id]
            if prepared.benchmark == "mmau":
                record["model_prediction"] = record[key]  # the key the README names
        records.append(record)
    with open(path, "w", encoding="utf-8") as f:
        if path.endswith(".jsonl"):
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        else:
            json.dump(records, f, ensure_ascii=False, indent=1)


def write_reports(out_dir, prepared, predictions, settings, mode="strict"):
    """Score and write ``report.json``, ``report.md``, ``report.png`` (and the official-input file).

    ``report.json`` holds the chosen mode at top level, every mode under ``"modes"`` and the run
    settings under ``"run"``. Returns the report dict.
    """
    modes = {m: build_report(prepared, predictions, m) for m in scoring.MODES}
    report = modes[mode]
    full = dict(report, modes=modes, run=settings)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(full, f, ensure_ascii=False, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(markdown(report, modes, settings))
    if report.get("overall") is not None and "per_category" in report:
        title = f"{prepared.benchmark} {prepared.split or ''} {mode} accuracy %"
        accuracy_chart(os.path.join(out_dir, "report.png"), title, chart_bars(report), chart_published(prepared))
    if prepared.benchmark in PREDICTION_KEYS:
        name = "official_input.jsonl" if prepared.benchmark != "mmau" else "official_input.json"
        official_input(prepared, predictions, os.path.join(out_dir, name))
    return full
