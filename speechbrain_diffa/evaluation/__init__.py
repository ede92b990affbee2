"""Benchmarks for DIFFA-2: MMAU, MMAR, MMSU (accuracy) and LibriSpeech (WER).

Modules: ``benchmarks`` (read local copies of the releases), ``scoring`` (official-parity
scorers), ``runner`` (batched, resumable, sharded decoding), ``report`` (JSON / Markdown / chart
reports), ``charts`` (matplotlib), ``published`` (published numbers), ``fixtures`` (release-shaped
test data), ``decoding_benchmark`` (decoder speed and agreement). Command line:
``python -m speechbrain_diffa.evaluation --help``.
"""
