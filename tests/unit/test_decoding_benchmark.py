"""The decoding benchmark runs end to end (tiny settings) and writes its JSON and table."""

import json

from speechbrain_diffa.decoding_benchmark import main


def test_benchmark_runs_and_reports(tmp_path):
    out = tmp_path / "bench.json"
    report = main(["--width", "32", "--layers", "1", "--vocab", "500", "--items", "2", "--gen_lengths", "16",
                   "--batches", "1", "2", "--fit_steps", "2", "--output", str(out), "--threads", "1"])
    saved = json.loads(out.read_text())
    decoders = {r["decoder"] for r in saved["rows"]}
    assert "reference" in decoders and "autoregressive (Llama + KV cache)" in decoders
    assert len(saved["rows"]) == 2 * 9
    reference = next(r for r in saved["rows"] if r["decoder"] == "reference")
    assert reference["nfe_per_batch"] == 16 and reference["speedup_vs_reference"] == 1.0
    for row in saved["rows"]:
        assert row["seconds_per_answer"] > 0 and row["tokens_per_second"] > 0
    assert (tmp_path / "bench.md").read_text().startswith("| answer | batch |")
    assert report["model"]["vocab"] == 500
