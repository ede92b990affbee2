"""Old path of :mod:`speechbrain_diffa.hub.release_weights` (contract names kept for existing code)."""

from speechbrain_diffa.hub.release_weights import (  # noqa: F401
    convert_released_state,
    load_released_adapters,
    released_adapter_state,
    to_released_state,
)
