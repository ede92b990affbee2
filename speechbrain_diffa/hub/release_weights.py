"""Released DIFFA / DIFFA-2 weights: load their state dicts into our modules, and write them back.

Release names (``docs/sources.md``, "Release weight names"): ``semantic_connector.*`` (:class:`SemanticAdapter`),
``acoustic_connector.*`` (:class:`AcousticAdapter`), ``trainable_prompts.weight`` (the 20 stage-1
prompt vectors). A release ``pytorch_model.bin`` also holds the frozen Whisper/LLaDA weights and
LoRA keys (``llm_model.*``): :func:`convert_released_state` maps the LoRA keys too and reports the
frozen ones as skipped; :func:`load_released_adapters` reads the adapters alone.

Authors
 * speechbrain_diffa contributors 2026
"""

import os
import re

from speechbrain_diffa.hub.weight_files import read_state_dict

SEMANTIC_PREFIX = "semantic_connector."
ACOUSTIC_PREFIX = "acoustic_connector."
PROMPTS_KEY = "trainable_prompts.weight"


def _load_prefixed(module, state_dict, prefix, what):
    """Strictly load the ``prefix``-ed keys of ``state_dict`` into ``module``; return their count."""
    sub = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
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
                f"{what}: {prefix}{key} has shape {tuple(value.shape)}, module expects {tuple(own[key].shape)}"
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
    >>> import torch
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
    KeyError: "semantic adapter: release keys do not match the module. Missing: ['semantic_connector.layernorm.bias..."
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


# ---------------------------------------------------------------------------------------------
# The whole DIFFA-2 release state dict <-> the trained tensors of a DIFFA2Model (a model folder's
# diffa2.ckpt). LoRA keys are PEFT-on-LLaDA names (docs/sources.md):
#   llm_model.base_model.model.model.transformer.blocks.{i}.{q_proj,...}.lora_{A,B}.default.weight
# The frozen base weights the release also holds (Whisper, LLaDA) are recognised and skipped.

LLM_PREFIX = "llm_model."
PEFT_PREFIX = "base_model.model."
OUR_LLM_PREFIX = "llm.llm."  # DIFFA2Model.llm (LLaDA) .llm (transformers / PEFT model)
RELEASE_WHISPER_PREFIX = "whisper_encoder."  # written by to_released_state; any prefix is read
_LORA_KEY = re.compile(r"^model\.transformer\.blocks\.(\d+)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$")
_WHISPER_KEY = re.compile(
    r"^(?P<prefix>(?:[\w]+\.)*?)(?:conv[12]\.(?:weight|bias)|embed_positions\.weight|layer_norm\.(?:weight|bias)"
    r"|layers\.\d+\.(?:self_attn|self_attn_layer_norm|fc1|fc2|final_layer_norm)\.[\w.]+)$"
)


def _our_lora_name(block, module, which):
    """Our parameter name of one release LoRA matrix (None for a module LLaDA does not have)."""
    from speechbrain_diffa.llada import release_to_internal_name

    internal = release_to_internal_name(f"model.transformer.blocks.{block}.{module}.weight")
    if internal is None:
        return None
    return f"{OUR_LLM_PREFIX}{PEFT_PREFIX}{internal[: -len('.weight')]}.lora_{which}.default.weight"


def _classify_llm_key(rest):
    """What a release key after ``llm_model.`` is.

    ``("lora", (block, module, A/B))``, ``("frozen", None)`` or ``("unknown", None)``.
    """
    from speechbrain_diffa.llada import release_to_internal_name

    peft = rest.startswith(PEFT_PREFIX)
    if peft:
        rest = rest[len(PEFT_PREFIX) :]
    match = _LORA_KEY.match(rest)
    if match and peft:
        return "lora", (int(match.group(1)), match.group(2), match.group(3))
    if release_to_internal_name(rest.replace(".base_layer.", ".")) is not None:
        return "frozen", None
    return "unknown", None


def _check_lora_complete(lora_keys, num_blocks):
    """Every adapted module needs A and B in every block; return (rank, targets)."""
    targets = sorted({module for _, module, _ in lora_keys})
    blocks = range(num_blocks or (1 + max(block for block, _, _ in lora_keys)))
    missing = [
        f"{LLM_PREFIX}{PEFT_PREFIX}model.transformer.blocks.{b}.{m}.lora_{w}.default.weight"
        for b in blocks
        for m in targets
        for w in "AB"
        if (b, m, w) not in lora_keys
    ]
    if missing:
        raise KeyError(f"Release LoRA is incomplete: {len(missing)} missing, e.g. {missing[:4]}")
    from speechbrain_diffa.llada import BLOCK_NAME_MAP

    order = list(BLOCK_NAME_MAP)
    return sorted(targets, key=order.index)


def convert_released_state(state_dict, num_blocks=None):
    """Rename a DIFFA / DIFFA-2 release state dict to a DIFFA2Model's trained tensors, strictly.

    Adapters (``semantic_connector.*``, ``acoustic_connector.*``), ``trainable_prompts.weight``
    and the LoRA matrices are mapped; the frozen LLaDA (``llm_model.*`` base weights) and Whisper
    encoder weights are recognised and skipped (counted in the report). Any other key, a LoRA
    module without its A or B, or a block without LoRA is an error.

    Arguments
    ---------
    state_dict : dict
        The release ``pytorch_model.bin`` / safetensors content.
    num_blocks : int
        LLaDA blocks that must all carry LoRA (default: inferred from the keys).

    Returns
    -------
    state : dict
        Tensors by DIFFA2Model parameter name (for ``DIFFA2Model.load_previous_stage``).
    report : dict
        Counts per part, the LoRA rank and targets, and the Whisper key prefixes seen.

    Example
    -------
    >>> import torch
    >>> q_proj = "llm_model.base_model.model.model.transformer.blocks.0.q_proj."
    >>> release = {"semantic_connector.layernorm.weight": torch.ones(2),
    ...            q_proj + "lora_A.default.weight": torch.ones(4, 2),
    ...            q_proj + "lora_B.default.weight": torch.ones(2, 4),
    ...            q_proj + "base_layer.weight": torch.ones(2, 2),
    ...            "whisper_encoder.layers.0.fc1.weight": torch.ones(1)}
    >>> state, report = convert_released_state(release)
    >>> sorted(state)[0]
    'llm.llm.base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight'
    >>> report["lora"], report["frozen_llada"], report["frozen_whisper"]
    ({'rank': 4, 'targets': ['q_proj'], 'tensors': 2}, 1, 1)
    >>> convert_released_state(dict(release, surprise=torch.ones(1)))
    Traceback (most recent call last):
    ...
    KeyError: "Release keys that are neither trained weights nor known frozen weights: ['surprise']"
    """
    state, unknown, lora_keys, whisper_prefixes = {}, [], set(), set()
    report = {"semantic": 0, "acoustic": 0, "prompts": 0, "frozen_llada": 0, "frozen_whisper": 0}
    ours = {SEMANTIC_PREFIX: "semantic_adapter.", ACOUSTIC_PREFIX: "acoustic_adapter."}
    for key, value in state_dict.items():
        prefix = next((p for p in ours if key.startswith(p)), None)
        if prefix is not None:
            state[ours[prefix] + key[len(prefix) :]] = value
            report["semantic" if prefix == SEMANTIC_PREFIX else "acoustic"] += 1
        elif key == PROMPTS_KEY:
            state["trainable_prompts.weight"] = value
            report["prompts"] = 1
        elif key.startswith(LLM_PREFIX):
            kind, where = _classify_llm_key(key[len(LLM_PREFIX) :])
            name = _our_lora_name(*where) if kind == "lora" else None
            if kind == "lora" and name is not None:
                state[name] = value
                lora_keys.add(where)
            elif kind == "frozen":
                report["frozen_llada"] += 1
            else:
                unknown.append(key)
        elif _WHISPER_KEY.match(key) and "decoder" not in key:
            whisper_prefixes.add(_WHISPER_KEY.match(key).group("prefix"))
            report["frozen_whisper"] += 1
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(
            f"Release keys that are neither trained weights nor known frozen weights: {sorted(unknown)[:10]}"
        )
    if not report["semantic"]:
        raise KeyError(f"Release state dict has no {SEMANTIC_PREFIX}* weights: not a DIFFA checkpoint")
    report["lora"] = {"rank": None, "targets": [], "tensors": 0}
    if lora_keys:
        targets = _check_lora_complete(lora_keys, num_blocks)
        rank = next(v for k, v in state.items() if ".lora_A." in k).shape[0]
        report["lora"] = {"rank": int(rank), "targets": targets, "tensors": len(lora_keys)}
    report["whisper_prefixes"] = sorted(whisper_prefixes)
    return state, report


def to_released_state(model, frozen=True):
    """A DIFFA2Model's weights under the release names (the inverse of :func:`convert_released_state`).

    Arguments
    ---------
    model : speechbrain_diffa.model.DIFFA2Model
    frozen : bool
        Also write the frozen LLaDA and Whisper weights, as the release ``pytorch_model.bin`` does
        (Whisper under :data:`RELEASE_WHISPER_PREFIX`; the release's own prefix is unverified).

    Returns
    -------
    dict

    Example
    -------
    >>> import torch
    >>> from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
    >>> model = make_tiny_diffa2(getfixture("tmpdir"), stage=3)
    >>> release = to_released_state(model)
    >>> "llm_model.base_model.model.model.transformer.blocks.1.ff_proj.lora_B.default.weight" in release
    True
    >>> state, report = convert_released_state(release)
    >>> all(torch.equal(state[k], v) for k, v in model.trainable_state_dict().items())
    True
    """
    from speechbrain_diffa.llada import internal_to_release_names

    release = released_adapter_state(model.semantic_adapter, model.acoustic_adapter, model.trainable_prompts)
    config = model.llm.llada_config
    names = internal_to_release_names(config["n_layers"], config.get("weight_tying", False))
    peft = model.llm.transformer is not model.llm.llm
    for key, value in model.llm.llm.state_dict().items():
        internal = key[len(PEFT_PREFIX) :] if peft else key
        lora = re.match(r"^(.*)\.lora_([AB])\.default\.weight$", internal)
        if lora:
            module = names[lora.group(1) + ".weight"][: -len(".weight")]
            release[f"{LLM_PREFIX}{PEFT_PREFIX}{module}.lora_{lora.group(2)}.default.weight"] = value.detach()
        elif frozen:
            base = internal.replace(".base_layer.", ".")
            name = names[base].replace(".weight", ".base_layer.weight") if base != internal else names[internal]
            release[LLM_PREFIX + (PEFT_PREFIX if peft else "") + name] = value.detach()
    if frozen:
        for key, value in model.encoder.encoder.state_dict().items():
            release[RELEASE_WHISPER_PREFIX + key] = value.detach()
    return release
