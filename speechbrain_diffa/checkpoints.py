"""Released DIFFA / DIFFA-2 weights: load their state dicts into our modules, and write them back.

Release names (``reference/diffa.md`` §15): ``semantic_connector.*`` (:class:`SemanticAdapter`),
``acoustic_connector.*`` (:class:`AcousticAdapter`), ``trainable_prompts.weight`` (the 20 stage-1
prompt vectors). A release ``pytorch_model.bin`` also holds the frozen Whisper/LLaDA weights and
LoRA keys (``llm_model.*``); those belong to other loaders and are left alone here.

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import os

import torch
from safetensors.torch import load_file

SEMANTIC_PREFIX = "semantic_connector."
ACOUSTIC_PREFIX = "acoustic_connector."
PROMPTS_KEY = "trainable_prompts.weight"


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
        with open(index) as f:
            shard_names = sorted(set(json.load(f)["weight_map"].values()))
        missing = [s for s in shard_names if not os.path.isfile(os.path.join(path, s))]
        if missing:
            raise FileNotFoundError(f"{index} lists shard(s) that are not in {path}: {missing}")
        return [os.path.join(path, s) for s in shard_names]
    single = os.path.join(path, "model.safetensors")
    return [single] if os.path.isfile(single) else []


def read_state_dict(path):
    """Read a checkpoint safely: safetensors, or a torch file with ``weights_only=True``.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/w.bin"
    >>> torch.save({"a": torch.ones(2)}, path)
    >>> read_state_dict(path)["a"].tolist()
    [1.0, 1.0]
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint not found: {path}")
    if path.endswith(".safetensors"):
        return load_file(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickles with code in them end here, never executed
        raise ValueError(f"Cannot read {path} as a weights-only torch checkpoint: {e}") from e


def _load_prefixed(module, state_dict, prefix, what):
    """Strictly load the ``prefix``-ed keys of ``state_dict`` into ``module``; return their count."""
    sub = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    own = module.state_dict()
    missing = sorted(set(own) - set(sub))
    unexpected = sorted(set(sub) - set(own))
    if missing or unexpected:
        raise KeyError(
            f"{what}: release keys do not match the module. Missing: "
            f"{[prefix + k for k in missing]}; unexpected: {[prefix + k for k in unexpected]}"
        )
    for key, value in sub.items():
        if value.shape != own[key].shape:
            raise ValueError(
                f"{what}: {prefix}{key} has shape {tuple(value.shape)}, module expects "
                f"{tuple(own[key].shape)}"
            )
    module.load_state_dict(sub, strict=True)
    return len(sub)


def load_released_adapters(semantic, acoustic, state_dict, prompts=None):
    """Load DIFFA/DIFFA-2 release adapter weights strictly.

    Arguments
    ---------
    semantic : speechbrain_diffa.adapters.SemanticAdapter
    acoustic : speechbrain_diffa.adapters.AcousticAdapter
    state_dict : dict
        A release state dict (or a path to one).
    prompts : torch.nn.Embedding
        Optionally, the 20 stage-1 prompt vectors (``trainable_prompts.weight``).

    Returns
    -------
    dict
        How many tensors each part took, and how many keys were left to other loaders.

    Example
    -------
    >>> from speechbrain_diffa.adapters import SemanticAdapter, AcousticAdapter
    >>> sem, aco = SemanticAdapter(8, 16), AcousticAdapter(8, 2, 2, 16, num_queries=4, ffn_size=16)
    >>> release = released_adapter_state(sem, aco)
    >>> release["llm_model.base_model.model.x.lora_A.default.weight"] = torch.zeros(1)
    >>> load_released_adapters(sem, aco, release)
    {'semantic': 10, 'acoustic': 59, 'prompts': 0, 'left_to_other_loaders': 1}
    >>> del release["semantic_connector.layernorm.bias"]
    >>> load_released_adapters(sem, aco, release)
    Traceback (most recent call last):
    ...
    KeyError: "semantic adapter: release keys do not match the module. Missing: ['semantic_connector.layernorm.bias']; unexpected: []"
    """
    if isinstance(state_dict, (str, os.PathLike)):
        state_dict = read_state_dict(state_dict)
    report = {
        "semantic": _load_prefixed(semantic, state_dict, SEMANTIC_PREFIX, "semantic adapter"),
        "acoustic": _load_prefixed(acoustic, state_dict, ACOUSTIC_PREFIX, "acoustic adapter"),
        "prompts": 0,
    }
    if prompts is not None:
        if PROMPTS_KEY not in state_dict:
            raise KeyError(f"Release state dict has no {PROMPTS_KEY}")
        prompts.load_state_dict({"weight": state_dict[PROMPTS_KEY]}, strict=True)
        report["prompts"] = 1
    used = (SEMANTIC_PREFIX, ACOUSTIC_PREFIX) + ((PROMPTS_KEY,) if prompts is not None else ())
    report["left_to_other_loaders"] = sum(1 for k in state_dict if not k.startswith(used))
    return report


def released_adapter_state(semantic, acoustic, prompts=None):
    """Our adapters' weights under the release names (the inverse of :func:`load_released_adapters`).

    Example
    -------
    >>> from speechbrain_diffa.adapters import SemanticAdapter
    >>> from speechbrain_diffa.adapters import AcousticAdapter
    >>> names = released_adapter_state(SemanticAdapter(8, 16),
    ...     AcousticAdapter(8, 2, 2, 16, num_queries=4, ffn_size=16))
    >>> "acoustic_connector.qformer.layer.1.crossattention.self.query.weight" in names
    True
    """
    state = {SEMANTIC_PREFIX + k: v for k, v in semantic.state_dict().items()}
    state.update({ACOUSTIC_PREFIX + k: v for k, v in acoustic.state_dict().items()})
    if prompts is not None:
        state[PROMPTS_KEY] = prompts.weight.detach()
    return state
