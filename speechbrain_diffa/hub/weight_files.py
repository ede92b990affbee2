"""Weight files as releases ship them: safetensors (single or sharded) and ``torch.save`` files.

``torch.load`` is only ever called with ``weights_only=True``; a damaged or foreign file gives one
:class:`CheckpointError` naming it.

Authors
 * speechbrain_diffa contributors 2026
"""

import contextlib
import json
import os
import re

import torch
from safetensors import SafetensorError, safe_open


def safetensors_files(path):
    """The safetensors weight files of a Hugging Face folder, sharded (with an index) or single.

    Every shard the index lists must exist (a missing one is named). Returns ``[]`` when the
    folder has no safetensors weights, so callers can fall back or raise their own error.

    Example
    -------
    >>> from safetensors.torch import save_file
    >>> folder = getfixture("tmpdir")
    >>> safetensors_files(str(folder))
    []
    >>> save_file({"w": torch.zeros(1)}, str(folder / "model.safetensors"))
    >>> [os.path.basename(f) for f in safetensors_files(str(folder))]
    ['model.safetensors']
    """
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                shard_names = sorted(set(json.load(f)["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise CheckpointError(
                f"{index} is not a safetensors index (a JSON object with a weight_map): {e}"
            ) from None
        if not all(isinstance(s, str) and os.path.basename(s) == s for s in shard_names):
            raise CheckpointError(f"{index} names shards that are not file names in {path}: {shard_names[:5]}")
        missing = [s for s in shard_names if not os.path.isfile(os.path.join(path, s))]
        if missing:
            raise FileNotFoundError(f"{index} lists shard(s) that are not in {path}: {missing}")
        return [os.path.join(path, s) for s in shard_names]
    single = os.path.join(path, "model.safetensors")
    return [single] if os.path.isfile(single) else []


class CheckpointError(ValueError):
    """A weights file that cannot be read safely (corrupt, truncated, or holding more than tensors)."""


def read_state_dict(path):
    """Read a checkpoint safely: safetensors, or a torch file with ``weights_only=True``.

    Returns a flat dict of tensors. Anything else (a corrupt or truncated file, a pickle that
    names Python code, nested or non-tensor values) raises :class:`CheckpointError` naming the
    file; the code a pickle names is never run.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/w.bin"
    >>> torch.save({"a": torch.ones(2)}, path)
    >>> read_state_dict(path)["a"].tolist()
    [1.0, 1.0]
    >>> _ = open(path, "wb").write(b"not a checkpoint")
    >>> read_state_dict(path)
    Traceback (most recent call last):
    ...
    speechbrain_diffa.hub.weight_files.CheckpointError: .../w.bin is not a readable torch checkpoint (corrupt, ...)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    if path.endswith(".safetensors"):
        with open_safetensors(path) as f:
            state = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (a safetensors handle)
    else:
        state = _torch_load_weights(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a state dict of tensors")
    for name, value in state.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
    return state


def _torch_load_weights(path):
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch's messages vary (and advise weights_only=False, which is not for us)
        refused = re.search(r"GLOBAL ([\w.]+)", str(e)) if "Weights only load failed" in str(e) else None
        if refused:
            raise CheckpointError(
                f"{path} holds Python objects besides tensors ({refused.group(1)}): refused, since loading "
                "them could run code"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable torch checkpoint (corrupt, truncated or another format)"
        ) from None


@contextlib.contextmanager
def open_safetensors(path):
    """``safetensors.safe_open`` on CPU, with a corrupt or truncated file reported by name.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/model.safetensors"
    >>> _ = open(path, "wb").write(b"junk")
    >>> with open_safetensors(path) as f:
    ...     pass
    Traceback (most recent call last):
    ...
    speechbrain_diffa.hub.weight_files.CheckpointError: .../model.safetensors is not a readable safetensors file ...
    """
    try:
        handle = safe_open(path, framework="pt", device="cpu")
    except SafetensorError as e:
        raise CheckpointError(f"{path} is not a readable safetensors file (corrupt or truncated: {e})") from None
    with handle as f:
        try:
            yield f
        except SafetensorError as e:
            raise CheckpointError(f"{path} is not a readable safetensors file (corrupt or truncated: {e})") from None
