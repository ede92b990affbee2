"""Benchmarks for DIFFA-2: MMAU, MMAR, MMSU (accuracy) and LibriSpeech (WER).

Modules: ``benchmarks`` (read local copies of the releases), ``prompts`` (DIFFA-2's prompts and
decoding settings), ``scoring`` (official-parity scorers), ``runner`` (batched, resumable,
sharded decoding), ``report`` (JSON / Markdown / PNG reports), ``published`` (published numbers),
``png`` (a tiny bar-chart writer). Command line: ``python -m speechbrain_diffa.evaluation --help``.
"""
