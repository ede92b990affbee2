"""Old path of :mod:`speechbrain_diffa.hub.export` (contract name kept for existing code)."""

from speechbrain_diffa.hub.export import write_tiny_model_folder  # noqa: F401
