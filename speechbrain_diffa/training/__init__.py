"""Training: ``brains`` (the SpeechBrain Brains of the four stages) and ``checkpointing``
(crash-safe checkpoints and the random state they carry)."""
