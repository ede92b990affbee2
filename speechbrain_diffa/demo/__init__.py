"""The offline demo and its pieces: ``tiny_models`` (tiny tokenizer, LLaDA, Whisper and DIFFA-2),
``tiny_corpus`` (a tone corpus for smoke tests), ``synthetic`` (the generated listening corpus),
``standins`` (pretrained tiny backbones), ``curriculum`` (all four stages, evaluated:
``python -m speechbrain_diffa.demo``) and ``quickstart`` (one answer from a tiny model)."""
