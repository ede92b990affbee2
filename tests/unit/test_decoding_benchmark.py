"""The decoding benchmark runs end to end (tiny settings) and writes its JSON and table."""

import json

import pytest

from speechbrain_diffa.evaluation.decoding_benchmark import (
    AR_COMPILED,
    AR_PLAIN,
    CONFIGS,
    LIMIT,
    TWO_PASSES,
    TWO_PASSES_COMPILED,
    main,
)
from speechbrain_diffa.evaluation.fixtures import write_mmau
from speechbrain_diffa.hub.export import write_tiny_model_folder

TINY = [
    "--width",
    "32",
    "--layers",
    "1",
    "--vocab",
    "500",
    "--items",
    "2",
    "--gen_lengths",
    "16",
    "--batches",
    "1",
    "2",
    "--fit_steps",
    "2",
    "--threads",
    "1",
]


def test_benchmark_runs_and_reports(tmp_path):
    out = tmp_path / "bench.json"
    report = main(TINY + ["--output", str(out)])
    saved = json.loads(out.read_text())
    decoders = {r["decoder"] for r in saved["rows"]}
    assert {"reference", AR_PLAIN, AR_COMPILED} <= decoders
    assert len(saved["rows"]) == 2 * (len(CONFIGS) + 2)
    reference = next(r for r in saved["rows"] if r["decoder"] == "reference")
    assert reference["nfe_per_batch"] == 16 and reference["speedup_vs_reference"] == 1.0
    limit = [r for r in saved["rows"] if r["decoder"] == LIMIT]
    assert [r["nfe_per_batch"] for r in limit] == [1, 1]  # one block, one pass
    assert [r["nfe_per_batch"] for r in saved["rows"] if r["decoder"] == TWO_PASSES] == [2, 2]
    by = {(r["batch"], r["decoder"]): r for r in saved["rows"]}
    for name, _ in CONFIGS:  # a compiled row answers as its twin on the dynamic cache, in as many passes
        twin = TWO_PASSES if name == TWO_PASSES_COMPILED else name.removesuffix(", compiled")
        if twin != name:
            for batch in (1, 2):
                for key in ("nfe_per_batch", "differs_from_reference", "matches_fitted_answer"):
                    assert by[batch, name][key] == by[batch, twin][key], (name, key)
    floor = saved["weight_read_floor"]
    assert floor["parameter_bytes"] == 4 * report["model"]["parameters"] and floor["ms"] > 0
    for row in saved["rows"]:
        assert row["seconds_per_answer"] > 0 and row["tokens_per_second"] > 0
        assert row["ms_per_pass"] == pytest.approx(
            1000 * row["seconds_per_answer"] * row["batch"] / row["nfe_per_batch"]
        )
        assert row["passes_over_floor"] == pytest.approx(row["ms_per_pass"] / floor["ms"])
    table = (tmp_path / "bench.md").read_text()
    assert table.startswith("Weight-read floor of one pass:") and "| answer | batch |" in table
    assert report["model"]["vocab"] == 500
    assert "trained_model" not in saved


def test_decoders_can_be_chosen(tmp_path, capsys):
    """--decoders times the named ones (plus the reference and AR); a wrong name is refused."""
    report = main(TINY + ["--output", str(tmp_path / "b.json"), "--batches", "1", "--decoders", LIMIT])
    assert [r["decoder"] for r in report["rows"]] == ["reference", LIMIT, AR_PLAIN, AR_COMPILED]
    report = main(TINY + ["--output", str(tmp_path / "b.json"), "--batches", "1", "--decoders", LIMIT,
                          "--skip_ar_compiled"])  # fmt: skip
    assert [r["decoder"] for r in report["rows"]] == ["reference", LIMIT, AR_PLAIN]
    with pytest.raises(SystemExit):
        main(TINY + ["--decoders", "dual cahce"])
    assert "unknown --decoders ['dual cahce']" in capsys.readouterr().err


def test_trained_model_rows(tmp_path, tiny_root):
    """--trained_model decodes an MMAU-format test with a model folder and counts its passes."""
    folder = write_tiny_model_folder(str(tmp_path), stage=3, seed=1, tiny_root=tiny_root)
    data = tmp_path / "mmau"
    write_mmau(str(data), n=3)
    out = tmp_path / "bench.json"
    saved = main(
        TINY + ["--output", str(out), "--trained_model", folder, "--trained_data", str(data), "--trained_only"]
    )
    assert saved["rows"] == []  # --trained_only: no synthetic rows
    rows = json.loads(out.read_text())["trained_model"]["rows"]
    assert [(r["batch"], r["decoder"]) for r in rows][:3] == [
        (1, "reference"),
        (1, "eos early stop (answer preset)"),
        (1, "dual cache + eos stop (answer-cached preset)"),
    ]
    assert len(rows) == 2 * 7
    by = {(r["batch"], r["decoder"]): r for r in rows}
    assert by[1, "reference"]["nfe_per_batch"] == 16 and by[1, "reference"]["nfe_histogram"] == {"16": 3}
    assert by[1, LIMIT]["nfe_per_batch"] == 1 and by[2, LIMIT]["nfe_histogram"] == {"1": 2}
    assert by[2, "reference"]["same_answer_as_reference"] == 1.0  # batching does not change answers
    assert by[1, "eos early stop (answer preset)"]["same_answer_as_reference"] == 1.0  # never changes an answer
    assert all(0 <= r["accuracy"] <= 1 and r["seconds_per_answer"] > 0 for r in rows)
    assert "Trained model" in (tmp_path / "bench.md").read_text()


def test_end_to_end_item_runs_eager_and_compiled(tmp_path):
    """The MMAU-shaped item (tiny shapes here): encoder, adapters and decoding at 1 and 2 passes, both ways."""
    from speechbrain_diffa.evaluation import end_to_end_benchmark

    out = tmp_path / "e2e.json"
    end_to_end_benchmark.main(["--tiny", "--device", "cpu", "--dtype", "float32", "--batches", "1", "2",
                               "--repeats", "1", "--output", str(out)])  # fmt: skip
    rows = json.loads(out.read_text())["rows"]
    assert [(r["batch"], r["compiled"]) for r in rows] == [(1, False), (2, False), (1, True), (2, True)]
    for row in rows:
        assert (row["passes_1"], row["passes_2"]) == (1, 2)
        assert row["encoder_and_adapters_s"] > 0 and row["answer_1_pass_s"] > 0
        low, high = sorted((row["answer_1_pass_s"], row["answer_2_pass_s"]))
        assert low <= row["answer_1.38_passes_s"] <= high
    assert (tmp_path / "e2e.md").read_text().count("\n") == 2 + len(rows)


def test_the_gpu_check_names_decoders_the_benchmark_has():
    """recipes/benchmarks/gpu_check.sh runs once on a lent GPU: a misspelt decoder there would cost the run."""
    import pathlib
    import re

    script = (pathlib.Path(__file__).parents[2] / "recipes" / "benchmarks" / "gpu_check.sh").read_text()
    decoders = script.split("--decoders", 1)[1].split("2>&1", 1)[0]
    named = re.findall(r'"([^"$]+)"', decoders)
    assert len(named) == 7 and set(named) <= {name for name, _ in CONFIGS}
