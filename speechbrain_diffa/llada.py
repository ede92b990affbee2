"""LLaDA, the masked-diffusion LLM backbone of DIFFA-2.

LLaDA-8B is a Llama-shaped transformer whose self-attention has no causal mask. Rather than
re-implementing that transformer, we run transformers' ``LlamaForCausalLM`` with
``config.is_causal = False`` and map the release's weight names onto it. Why this backbone:

* the official checkpoint's logits are reproduced exactly in fp32 (``RMSNorm``, RoPE, SwiGLU,
  untied head are the same maths; see ``docs/sources.md``);
* the decoder's KV cache is transformers' own ``DynamicCache``: it grows when a forward pass is
  given ``use_cache=True`` and is cut back with ``crop``; nothing of ours to keep in sync;
* PEFT LoRA, gradient checkpointing and sdpa attention come for free.

Weight names follow the ``GSAI-ML/LLaDA-8B-Instruct`` release (``model.transformer.*``), and
:meth:`LLaDA.save_pretrained` writes that same layout, so our tiny stand-ins look like the release.

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import os
from dataclasses import dataclass

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from speechbrain_diffa.hub.weight_files import open_safetensors, safetensors_files

# Release block-module name -> name inside a transformers Llama decoder layer.
BLOCK_NAME_MAP = {
    "attn_norm": "input_layernorm",
    "q_proj": "self_attn.q_proj",
    "k_proj": "self_attn.k_proj",
    "v_proj": "self_attn.v_proj",
    "attn_out": "self_attn.o_proj",
    "ff_norm": "post_attention_layernorm",
    "ff_proj": "mlp.gate_proj",
    "up_proj": "mlp.up_proj",
    "ff_out": "mlp.down_proj",
}
TOP_NAME_MAP = {
    "model.transformer.wte.weight": "model.embed_tokens.weight",
    "model.transformer.ln_f.weight": "model.norm.weight",
    "model.transformer.ff_out.weight": "lm_head.weight",
}
REQUIRED_CONFIG_KEYS = ("d_model", "n_layers", "n_heads", "vocab_size")
# What our Llama mapping reproduces; other values of these keys are a different architecture.
SUPPORTED_CONFIG_VALUES = {
    "block_type": ("llama",),
    "activation_type": ("silu", "swiglu"),
    "layer_norm_type": ("rms",),
    "alibi": (False,),
    "rope": (True,),
    "include_bias": (False,),
    "attention_layer_norm": (False,),
    "scale_logits": (False,),
    "multi_query_attention": (None, False),
}
LLADA_DEFAULTS = {
    "mask_token_id": 126336,  # <|mdm_mask|> in GSAI-ML/LLaDA-8B-Instruct
    "eos_token_id": 126081,
    "pad_token_id": 126081,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "max_sequence_length": 4096,
    "weight_tying": False,
}


def lora_target_names(release_names):
    """Translate LLaDA release module names (LoRA targets) to the names inside :class:`LLaDA`.

    Arguments
    ---------
    release_names : list of str
        Names as the DIFFA-2 release writes them, e.g. ``["q_proj", "ff_proj"]``.

    Returns
    -------
    list of str
        The module names PEFT should target here, e.g. ``["q_proj", "gate_proj"]``.

    Example
    -------
    >>> lora_target_names(["q_proj", "k_proj", "v_proj", "ff_proj", "up_proj"])
    ['q_proj', 'k_proj', 'v_proj', 'gate_proj', 'up_proj']
    """
    out = []
    for name in release_names:
        if name not in BLOCK_NAME_MAP:
            raise ValueError(f"Unknown LLaDA module name {name!r}; expected one of {sorted(BLOCK_NAME_MAP)}")
        out.append(BLOCK_NAME_MAP[name].split(".")[-1])
    return out


def release_to_internal_name(name):
    """Map one release weight name (``model.transformer.*``) to its name in :class:`LLaDA`.

    Arguments
    ---------
    name : str
        A weight name from the release, e.g. ``model.transformer.blocks.3.ff_proj.weight``.

    Returns
    -------
    str
        The state-dict key in ``LLaDA.llm`` (a ``LlamaForCausalLM``), or ``None`` if unknown.

    Example
    -------
    >>> release_to_internal_name("model.transformer.blocks.3.ff_proj.weight")
    'model.layers.3.mlp.gate_proj.weight'
    >>> release_to_internal_name("model.transformer.ff_out.weight")
    'lm_head.weight'
    """
    if name in TOP_NAME_MAP:
        return TOP_NAME_MAP[name]
    parts = name.split(".")
    if len(parts) == 6 and parts[:3] == ["model", "transformer", "blocks"] and parts[3].isdigit():
        module = BLOCK_NAME_MAP.get(parts[4])
        if module is not None and parts[5] == "weight":
            return f"model.layers.{parts[3]}.{module}.weight"
    return None


def internal_to_release_names(n_layers, weight_tying=False):
    """All release weight names of an ``n_layers`` LLaDA, keyed by their internal name.

    Example
    -------
    >>> names = internal_to_release_names(2)
    >>> names["model.layers.1.self_attn.o_proj.weight"]
    'model.transformer.blocks.1.attn_out.weight'
    >>> len(names)
    21
    """
    names = {v: k for k, v in TOP_NAME_MAP.items()}
    if weight_tying:
        del names["lm_head.weight"]
    for i in range(n_layers):
        for release, internal in BLOCK_NAME_MAP.items():
            names[f"model.layers.{i}.{internal}.weight"] = f"model.transformer.blocks.{i}.{release}.weight"
    return names


def llama_config_from_llada(config):
    """Build the transformers ``LlamaConfig`` that reproduces a LLaDA ``config.json``.

    Arguments
    ---------
    config : dict
        The LLaDA config (keys ``d_model``, ``n_layers``, ``n_heads``, ``n_kv_heads``,
        ``mlp_hidden_size``, ``vocab_size``, ``embedding_size``, ``rope_theta``, ...).

    Returns
    -------
    LlamaConfig
        Bidirectional (``is_causal=False``); logits have ``embedding_size`` columns.

    Example
    -------
    >>> cfg = llama_config_from_llada({"d_model": 64, "n_layers": 2, "n_heads": 4,
    ...     "mlp_hidden_size": 192, "vocab_size": 126464, "rope_theta": 500000.0})
    >>> cfg.hidden_size, cfg.intermediate_size, cfg.is_causal
    (64, 192, False)
    """
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(f"LLaDA config is missing required key(s) {missing}")
    for key, allowed in SUPPORTED_CONFIG_VALUES.items():
        if key in config and config[key] not in allowed:
            raise ValueError(
                f"LLaDA config key {key!r} = {config[key]!r} is not supported (expected one of {list(allowed)})"
            )
    cfg = {**LLADA_DEFAULTS, **config}
    d_model, n_heads = cfg["d_model"], cfg["n_heads"]
    n_kv_heads = cfg.get("n_kv_heads") or n_heads
    if d_model % n_heads or n_heads % n_kv_heads:
        raise ValueError(
            f"LLaDA config: d_model ({d_model}) must divide by n_heads ({n_heads}) and "
            f"n_heads by n_kv_heads ({n_kv_heads})"
        )
    mlp_hidden = cfg.get("mlp_hidden_size") or int(cfg.get("mlp_ratio", 4) * d_model)
    vocab = cfg.get("embedding_size") or cfg["vocab_size"]
    for key in ("mask_token_id", "eos_token_id"):
        if not 0 <= cfg[key] < vocab:
            raise ValueError(f"LLaDA config: {key} = {cfg[key]} is outside the vocabulary ({vocab})")
    return LlamaConfig(
        hidden_size=d_model,
        num_hidden_layers=cfg["n_layers"],
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv_heads,
        intermediate_size=mlp_hidden,
        vocab_size=vocab,
        hidden_act="silu",
        rms_norm_eps=cfg["rms_norm_eps"],
        rope_parameters={"rope_type": "default", "rope_theta": float(cfg["rope_theta"])},
        max_position_embeddings=cfg["max_sequence_length"],
        attention_bias=False,
        mlp_bias=False,
        tie_word_embeddings=bool(cfg["weight_tying"]),
        # No padding_idx: LLaDA's EOS/pad embedding is an ordinary row.
        pad_token_id=None,
        eos_token_id=cfg["eos_token_id"],
        bos_token_id=cfg.get("bos_token_id"),
        initializer_range=cfg.get("init_std", 0.02),
        is_causal=False,
        use_cache=False,
    )


@dataclass
class LLaDAOutput:
    """What :meth:`LLaDA.forward` returns.

    Attributes
    ----------
    logits : torch.Tensor
        ``(batch, time, vocab)``; or only the requested positions (see ``logits_index`` and
        ``logits_mask`` in :meth:`LLaDA.forward`).
    cache : transformers.Cache or None
        The KV cache after this call when ``use_cache=True``.
    hidden_states : torch.Tensor
        The final normed hidden states ``(batch, time, d_model)``.
    """

    logits: torch.Tensor
    cache: object | None = None
    hidden_states: torch.Tensor | None = None


def load_named_weights(model, path, files, wanted, tied, device, dtype=None, what="LLaDA"):
    """Fill a meta-device backbone's ``model.llm`` from safetensors ``files``, every name and shape checked.

    Arguments
    ---------
    model : LLaDA
        Built on the meta device (LLaDA or :class:`~speechbrain_diffa.autoregressive.CausalLM`).
    path : str
        The folder, for messages.
    files : list of str
        Its safetensors files.
    wanted : dict
        File weight name -> name in ``model.llm``'s state dict; every one must be present, no other.
    tied : bool
        The LM head shares the embedding table (it is not in the files).
    device : torch.device
        Where the weights go.
    dtype : torch.dtype
        Cast to this (default: as stored).
    what : str
        The backbone's name, for messages.
    """
    shapes = {k: v.shape for k, v in model.llm.state_dict().items()}
    state, unexpected = {}, []
    for file in files:
        with open_safetensors(file) as f:
            for name in f.keys():  # noqa: SIM118 (a safetensors handle, not a dict)
                if name not in wanted:
                    unexpected.append(name)
                    continue
                tensor = f.get_tensor(name)
                internal = wanted[name]
                if tensor.shape != shapes[internal]:
                    raise ValueError(
                        f"{file}: weight {name} has shape {tuple(tensor.shape)}, the config "
                        f"in {path} implies {tuple(shapes[internal])}"
                    )
                state[internal] = tensor.to(device=device, dtype=dtype or tensor.dtype)
    found = set(state)
    missing = sorted(name for name, internal in wanted.items() if internal not in found)
    if missing or unexpected:
        raise ValueError(
            f"{what} weights in {path} do not match the config: missing {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''} ({len(missing)}), unexpected "
            f"{sorted(unexpected)[:8]} ({len(unexpected)})"
        )
    if tied:
        state["lm_head.weight"] = state["model.embed_tokens.weight"]
    model.llm.load_state_dict(state, strict=True, assign=True)
    if tied:
        model.llm.tie_weights()
    # Non-persistent RoPE buffers were created on the meta device; rebuild them for real.
    with torch.device(device):
        model.llm.model.rotary_emb = LlamaRotaryEmbedding(config=model.llm.config)


class LLaDA(torch.nn.Module):
    """The LLaDA masked-diffusion LLM with bidirectional attention.

    Arguments
    ---------
    config : dict
        A LLaDA ``config.json`` as a dict (see :func:`llama_config_from_llada`).
    attn_implementation : str
        ``"sdpa"`` (default) or ``"eager"``.

    Example
    -------
    >>> llm = LLaDA({"d_model": 32, "n_layers": 2, "n_heads": 4, "mlp_hidden_size": 96,
    ...              "vocab_size": 100, "mask_token_id": 99, "eos_token_id": 98})
    >>> ids = torch.randint(0, 99, (2, 7))
    >>> llm(ids).logits.shape
    torch.Size([2, 7, 100])
    >>> llm(ids, logits_index=torch.tensor([[5, 6], [0, 1]])).logits.shape
    torch.Size([2, 2, 100])
    """

    is_causal = False  # bidirectional; speechbrain_diffa.autoregressive.CausalLM is the causal control

    def __init__(self, config, attn_implementation="sdpa"):
        super().__init__()
        self.llada_config = {**LLADA_DEFAULTS, **dict(config)}
        llama_config = llama_config_from_llada(self.llada_config)
        llama_config._attn_implementation = attn_implementation
        self.llm = LlamaForCausalLM(llama_config)
        self.mask_token_id = self.llada_config["mask_token_id"]

    @property
    def config(self):
        """The underlying transformers ``LlamaConfig``."""
        return self.llm.config

    @property
    def device(self):
        """Device of the embedding table."""
        return self.get_input_embeddings().weight.device

    @property
    def dtype(self):
        """Dtype of the embedding table."""
        return self.get_input_embeddings().weight.dtype

    def add_lora(self, r=8, alpha=16, dropout=0.05, targets=("q_proj", "k_proj", "v_proj", "ff_proj", "up_proj")):
        """Wrap the transformer with PEFT LoRA adapters; only they train afterwards.

        Defaults are DIFFA-2's stage-3 LoRA (r 8, alpha 16, dropout 0.05 on q, k, v, ff_proj,
        up_proj; ``attn_out`` and ``ff_out`` are not adapted). ``targets`` use release names.

        Returns
        -------
        peft.PeftModel
            The wrapped transformer, also stored as ``self.llm``.

        Example
        -------
        >>> llm = LLaDA({"d_model": 32, "n_layers": 2, "n_heads": 4, "mlp_hidden_size": 96,
        ...              "vocab_size": 100, "mask_token_id": 99, "eos_token_id": 98})
        >>> _ = llm.add_lora()
        >>> sum(p.numel() for p in llm.parameters() if p.requires_grad)
        7168
        """
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none", target_modules=lora_target_names(targets)
        )
        self.llm = get_peft_model(self.llm, config)
        return self.llm

    @property
    def transformer(self):
        """The transformers ``LlamaForCausalLM`` (inside the PEFT wrapper once LoRA is added)."""
        return self.llm.get_base_model() if hasattr(self.llm, "get_base_model") else self.llm

    def get_input_embeddings(self):
        """The token embedding table (``nn.Embedding``)."""
        return self.llm.get_input_embeddings()

    def embed(self, input_ids):
        """Token ids ``(batch, time)`` to embeddings ``(batch, time, d_model)``."""
        return self.llm.get_input_embeddings()(input_ids)

    def gradient_checkpointing_enable(self):
        """Recompute activations in the backward pass (saves memory when training LoRA)."""
        # Non-reentrant checkpointing lets gradients reach inputs_embeds from the adapters even
        # though the frozen LLaDA weights do not require grad.
        # (transformers 5 renamed gradient_checkpointing_enable, deprecated until v6.)
        self.llm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})

    def forward(
        self,
        input_ids=None,
        inputs_embeds=None,
        attention_mask=None,
        position_ids=None,
        cache=None,
        use_cache=False,
        logits_index=None,
        logits_mask=None,
    ):
        """Run LLaDA.

        Arguments
        ---------
        input_ids : torch.LongTensor
            ``(batch, time)`` token ids; or give ``inputs_embeds``.
        inputs_embeds : torch.Tensor
            ``(batch, time, d_model)``, e.g. text embeddings with an audio block spliced in.
        attention_mask : torch.Tensor
            ``(batch, keys)``: 1 for real tokens, 0 for padding (keys = cached + new positions).
            Attention is bidirectional; padded keys are never attended to. When given and
            ``position_ids`` is not, positions count real tokens only, so left and right
            padding both give the same outputs as the unpadded item.
        position_ids : torch.LongTensor
            ``(batch, time)`` RoPE positions of the new tokens (default: after the cache).
        cache : transformers.Cache
            KV cache of earlier positions (hook for the decoder's prefix cache).
        use_cache : bool
            Return the updated cache in ``.cache``.
        logits_index : torch.LongTensor
            ``(batch, k)``: compute the LM head only at these positions -> logits ``(batch, k, V)``.
        logits_mask : torch.BoolTensor
            ``(batch, time)``: compute the LM head only where True -> logits ``(n_true, V)``,
            in row-major order. The LM head is 126,464 wide for LLaDA-8B, so this saves a lot.

        Returns
        -------
        LLaDAOutput
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("LLaDA.forward needs exactly one of input_ids or inputs_embeds")
        if logits_index is not None and logits_mask is not None:
            raise ValueError("Give logits_index or logits_mask, not both")
        if inputs_embeds is None:
            inputs_embeds = self.embed(input_ids)
        new_len = inputs_embeds.shape[1]
        if position_ids is None and attention_mask is not None:
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -new_len:]
        out = self.transformer.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            use_cache=use_cache,
        )
        hidden = out.last_hidden_state
        if logits_index is not None:
            picked = hidden.gather(1, logits_index.unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
        elif logits_mask is not None:
            picked = hidden[logits_mask]
        else:
            picked = hidden
        logits = self.transformer.lm_head(picked)
        return LLaDAOutput(logits=logits, cache=out.cache if use_cache else None, hidden_states=hidden)

    @classmethod
    def from_pretrained(cls, path, dtype=None, device=None, attn_implementation="sdpa", lora=None):
        """Load a directory in the ``GSAI-ML/LLaDA-8B-Instruct`` layout (no remote code).

        Arguments
        ---------
        path : str
            Folder with ``config.json`` and ``*.safetensors`` (single file, or shards listed in
            ``model.safetensors.index.json``) using the release weight names.
        dtype : torch.dtype or str
            Cast the weights to this dtype, e.g. ``torch.bfloat16`` or ``"bfloat16"`` (default:
            the dtype stored in the checkpoint).
        device : str or torch.device
            Where to put the weights (default: CPU).
        attn_implementation : str
            ``"sdpa"`` or ``"eager"``.
        lora : dict
            If given, :meth:`add_lora` keyword arguments (``r``, ``alpha``, ``dropout``,
            ``targets``): the loaded model gets LoRA adapters, as YAMLs of stages 3-4 declare it.

        Returns
        -------
        LLaDA

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_llada
        >>> path = make_tiny_llada(getfixture("tmpdir") + "/llada")
        >>> llm = LLaDA.from_pretrained(path)
        >>> llm.llada_config["mask_token_id"] == llm.mask_token_id
        True
        >>> with_lora = LLaDA.from_pretrained(path, lora={"r": 4})
        >>> any("lora_A" in name for name, _ in with_lora.named_parameters())
        True
        """
        config = read_llada_config(path)
        files = safetensors_files(path)
        if not files:
            raise FileNotFoundError(
                f"No LLaDA weights in {path}: expected model.safetensors or model.safetensors.index.json"
            )
        device = torch.device(device or "cpu")
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        with torch.device("meta"):
            model = cls(config, attn_implementation=attn_implementation)
        expected = internal_to_release_names(config["n_layers"], config.get("weight_tying", False))
        wanted = {release: internal for internal, release in expected.items()}
        load_named_weights(model, path, files, wanted, bool(config.get("weight_tying", False)), device, dtype, "LLaDA")
        if lora is not None:
            model.add_lora(**lora)
        return model

    def save_pretrained(self, path, max_shard_bytes=2 * 1024**3):
        """Write ``config.json`` and safetensors shards in the LLaDA release layout.

        Arguments
        ---------
        path : str
            Output folder (created).
        max_shard_bytes : int
            Start a new shard past this size; more than one shard also writes
            ``model.safetensors.index.json`` as the release does.

        Example
        -------
        >>> llm = LLaDA({"d_model": 32, "n_layers": 2, "n_heads": 4, "mlp_hidden_size": 96,
        ...              "vocab_size": 100, "mask_token_id": 99, "eos_token_id": 98})
        >>> folder = getfixture("tmpdir") + "/saved"
        >>> llm.save_pretrained(folder, max_shard_bytes=40_000)
        >>> again = LLaDA.from_pretrained(folder)
        >>> torch.equal(again.llm.lm_head.weight, llm.llm.lm_head.weight)
        True
        """
        if self.transformer is not self.llm:
            raise ValueError("save_pretrained writes the base weights only; merge or drop LoRA first")
        os.makedirs(path, exist_ok=True)
        names = internal_to_release_names(self.llada_config["n_layers"], self.llada_config.get("weight_tying", False))
        state = self.llm.state_dict()
        shards, current, size = [], {}, 0
        for internal, release in names.items():
            tensor = state[internal].detach().contiguous().cpu()
            nbytes = tensor.numel() * tensor.element_size()
            if current and size + nbytes > max_shard_bytes:
                shards.append(current)
                current, size = {}, 0
            current[release] = tensor
            size += nbytes
        shards.append(current)
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump(self.llada_config, f, indent=2)
        if len(shards) == 1:
            save_file(shards[0], os.path.join(path, "model.safetensors"), metadata={"format": "pt"})
            return
        weight_map = {}
        for i, shard in enumerate(shards):
            fname = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            save_file(shard, os.path.join(path, fname), metadata={"format": "pt"})
            weight_map.update({name: fname for name in shard})
        with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)


def crop_cache(cache, length):
    """Cut a transformers cache back to its first ``length`` positions (decoder hook).

    Example
    -------
    >>> llm = LLaDA({"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden_size": 32,
    ...              "vocab_size": 20, "mask_token_id": 19, "eos_token_id": 18})
    >>> cache = llm(torch.arange(6)[None], use_cache=True).cache
    >>> crop_cache(cache, 4); cache.get_seq_length()
    4
    """
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


def drop_cache_span(cache, start, end):
    """Remove cached positions ``[start, end)`` from every layer (the dual cache keeps both sides).

    Attention is bidirectional and RoPE is applied before keys are cached, so the order of cached
    keys does not matter: a block fed after ``[prefix ; suffix]`` attends exactly as in place.

    Example
    -------
    >>> llm = LLaDA({"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_hidden_size": 32,
    ...              "vocab_size": 20, "mask_token_id": 19, "eos_token_id": 18})
    >>> cache = llm(torch.arange(6)[None], use_cache=True).cache
    >>> drop_cache_span(cache, 2, 4); cache.get_seq_length()
    4
    """
    for layer in cache.layers:
        layer.keys = torch.cat([layer.keys[..., :start, :], layer.keys[..., end:, :]], dim=-2)
        layer.values = torch.cat([layer.values[..., :start, :], layer.values[..., end:, :]], dim=-2)


def read_llada_config(path):
    """Read and check ``config.json`` of a LLaDA folder; errors name the file and the key.

    Example
    -------
    >>> read_llada_config("/nonexistent")
    Traceback (most recent call last):
    ...
    FileNotFoundError: No LLaDA config.json in /nonexistent
    """
    cfg_file = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_file):
        raise FileNotFoundError(f"No LLaDA config.json in {path}")
    try:
        with open(cfg_file) as f:
            config = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{cfg_file} is not valid JSON: {e}") from e
    try:
        llama_config_from_llada(config)
    except ValueError as e:
        raise ValueError(f"{cfg_file}: {e}") from e
    return config
