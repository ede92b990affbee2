"""Reports: modes, per-category accuracy, WER, files written, and parity with the official loop."""

import json
import os
import struct

import pytest
from test_evaluation_scoring import official_mmsu_record, official_string_match

from speechbrain_diffa.evaluation import fixtures
from speechbrain_diffa.evaluation.benchmarks import read_librispeech, read_mmar, read_mmau, read_mmsu
from speechbrain_diffa.evaluation.report import accuracy_report, wer_report, write_reports


@pytest.fixture
def mmau(tmp_path):
    fixtures.write_mmau(str(tmp_path), n=12)
    return read_mmau(str(tmp_path), version="v05.15.25")


def styled_predictions(items):
    """Correct text, correct letter, letter-prefixed text, a wrong option, empty, and missing."""
    out = {}
    for n, item in enumerate(items):
        letter = "ABCDEFGH"[item.choices.index(item.answer)]
        style = n % 6
        if style == 0:
            out[item.id] = item.answer
        elif style == 1:
            out[item.id] = f"({letter})"
        elif style == 2:
            out[item.id] = f"{letter}. {item.answer}"
        elif style == 3:
            out[item.id] = next(c for c in item.choices if c != item.answer)
        elif style == 4:
            out[item.id] = ""
    return out


def test_modes_and_counts(mmau):
    """official and strict score the raw outputs (official with its skips); letter-mapped maps letters first."""
    preds = styled_predictions(mmau.items)
    strict = accuracy_report(mmau, preds)
    official = accuracy_report(mmau, preds, mode="official")
    mapped = accuracy_report(mmau, preds, mode="letter-mapped")
    assert strict["items_scored"] == mapped["items_scored"] == 12 and strict["items_missing"] == 2
    assert strict["items_unparseable"] == 2  # the empty predictions
    assert official["items_scored"] == 10 and official["items_skipped"] == 2
    assert mapped["correct"] == 6 and mapped["overall"] == 50.0  # text, letter and "L. text" styles
    # the raw outputs: bare letters fail; "L. text" passes unless a distractor has the letter
    raw_correct = 2 + sum(official_string_match(i.answer, preds[i.id], i.choices) for i in mmau.items[2::6])
    assert strict["correct"] == official["correct"] == raw_correct
    assert official["overall"] == pytest.approx(100 * raw_correct / 10)
    assert not strict["letter_to_text"] and mapped["letter_to_text"]
    tasks = strict["per_category"]["task"]
    assert set(tasks) == {"sound", "music", "speech"} and sum(t["total"] for t in tasks.values()) == 12
    assert set(strict["per_category"]) == {"task", "category", "sub-category", "difficulty"}


def test_official_input_reproduces_official_mode(mmau, tmp_path):
    preds = styled_predictions(mmau.items)
    report = write_reports(str(tmp_path), mmau, preds, {"benchmark": "mmau"}, mode="official")
    records = json.load(open(tmp_path / "official_input.json", encoding="utf-8"))
    # The official loop over the file we wrote: skip records without the key, match the rest.
    with_key = [r for r in records if "model_output" in r]
    scored = [official_string_match(r["answer"], r["model_output"], r["choices"]) for r in with_key]
    assert report["overall"] == pytest.approx(100 * sum(scored) / len(scored))
    assert set(report["modes"]) == {"official", "strict", "letter-mapped"}


def test_mmsu_report_matches_official_loop(tmp_path):
    fixtures.write_mmsu(str(tmp_path), n=12)
    data = read_mmsu(str(tmp_path))
    responses = ["A", "B", "The answer is B.", "Answer: C", "I cannot tell", "None", "", "D", "C\n", "b", "x", "A."]
    preds = {item.id: r for item, r in zip(data.items, responses)}
    outcomes = [official_mmsu_record(r, i.choices, i.answer) for i, r in zip(data.items, responses)]
    counted = [o for o in outcomes if o != "skip"]
    official = accuracy_report(data, preds, mode="official")
    assert official["overall"] == pytest.approx(100 * counted.count("correct") / len(counted))
    strict = accuracy_report(data, preds)
    assert strict["items_scored"] == 12 and strict["correct"] == counted.count("correct")
    assert strict["items_unparseable"] == 5
    assert "Perception / Semantics" in strict["per_category"]["category / sub-category"]
    assert set(strict["per_category"]["task"]) == {"intonation_perception", "sarcasm_detection", "emotion_reasoning"}


def test_mmar_layers_and_modalities(tmp_path):
    fixtures.write_mmar(str(tmp_path), n=8)
    data = read_mmar(str(tmp_path))
    report = accuracy_report(data, {i.id: i.answer for i in data.items})
    assert report["overall"] == 100.0
    assert set(report["per_category"]) == {"modality", "category", "sub-category"}
    assert report["per_category"]["category"]["Signal Layer"]["total"] == 2


def test_strict_counts_malformed_records(tmp_path):
    path = fixtures.write_mmar(str(tmp_path), n=4)
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "bad"}\n')
    data = read_mmar(str(tmp_path))
    preds = {i.id: i.answer for i in data.items}
    assert accuracy_report(data, preds)["overall"] == 80.0
    assert accuracy_report(data, preds, mode="official")["overall"] == 100.0


def test_wer(tmp_path):
    fixtures.write_librispeech(str(tmp_path), n=4)
    data = read_librispeech(str(tmp_path))
    preds = {i.id: i.answer.lower() + "," for i in data.items[:3]}
    preds[data.items[0].id] = "hello word number zero"
    strict = wer_report(data, preds)
    assert strict["num_ref_words"] == 16 and strict["substitutions"] == 1 and strict["deletions"] == 4
    assert strict["overall"] == pytest.approx(100 * 5 / 16)
    assert wer_report(data, preds, "official")["overall"] == pytest.approx(100 / 12)
    # Whisper's normaliser: "IT'S" is "it is" (18 reference words); one substitution and the missing item's 5 words
    assert strict["wer_whisper"] == pytest.approx(100 * 6 / 18) and 0 < strict["cer"] < strict["overall"]
    digits = {"ZERO": "0", "TWO": "2", "THREE": "3"}  # numbers written as digits: wrong for ours, right for Whisper's
    spelled = {i.id: " ".join(digits.get(w, w) for w in i.answer.split()) for i in data.items}
    both = wer_report(data, spelled)
    assert both["overall"] > 0 and both["wer_whisper"] == 0.0


def test_wer_markdown_shows_both_normalisations(tmp_path):
    fixtures.write_librispeech(str(tmp_path), n=2)
    data = read_librispeech(str(tmp_path))
    write_reports(str(tmp_path), data, {i.id: i.answer for i in data.items}, {"benchmark": "librispeech"})
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| LibriSpeech (" in md and "| Whisper (" in md and "closest to the librispeech normalisation" in md


def test_files_written(mmau, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    settings = {"benchmark": "mmau", "split": "test-mini", "version": "v05.15.25", "model": {"class": "x"}}
    write_reports(str(out), mmau, styled_predictions(mmau.items), settings)
    report = json.load(open(out / "report.json", encoding="utf-8"))
    for key in ("overall", "per_category", "items_scored", "items_unparseable", "mode", "run"):
        assert key in report
    md = (out / "report.md").read_text(encoding="utf-8")
    assert md.startswith("# MMAU test-mini (v05.15.25)") and "| letter-mapped | 50.00 |" in md and "| official |" in md
    assert "Published numbers" in md and "| DIFFA-2 | 69.60 | version not stated |" in md
    png = (out / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert width == 700 and height > 100  # one bar per row: overall, each category, each published number


def test_mmau_test_split_is_not_scored(tmp_path):
    fixtures.write_mmau(str(tmp_path), n=3, split="test")
    data = read_mmau(str(tmp_path), split="test", version="v05.15.25")
    report = write_reports(str(tmp_path), data, {data.items[0].id: "B"}, {"benchmark": "mmau"})
    assert report["overall"] is None and "withheld" in report["note"]
    records = json.load(open(os.path.join(str(tmp_path), "official_input.json"), encoding="utf-8"))
    assert records[0]["model_output"] == records[0]["model_prediction"] == "B"  # the raw output, for submission
    assert "model_output" not in records[1]
