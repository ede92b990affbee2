"""Weights and model folders: ``weight_files`` (safetensors and ``torch.save`` files, read safely),
``release_weights`` (the DIFFA / DIFFA-2 release names to ours and back), ``safe_hparams`` (the
allow-list YAML loader), ``model_folder`` (what loading a folder or hub repo may do) and ``export``
(write model folders and model cards)."""
