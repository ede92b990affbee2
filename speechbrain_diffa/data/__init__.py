"""Data handling: ``audio`` (read and check clips), ``manifests`` (the training manifest format),
``datasets`` (manifests into SpeechBrain datasets and batches), ``preparation`` (corpora and
benchmark releases into manifests)."""
