"""Old path of :mod:`speechbrain_diffa.data.audio` (contract name kept for existing code)."""

from speechbrain_diffa.data.audio import load_audio  # noqa: F401
