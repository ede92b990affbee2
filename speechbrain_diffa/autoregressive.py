"""The autoregressive control: a causal Llama behind the same interface as :class:`~speechbrain_diffa.llada.LLaDA`.

DIFFA's claim is that a diffusion backbone matches an autoregressive one under matched settings
(same encoder, adapters, data and budget). :class:`CausalLM` is that other backbone: a
transformers Llama with causal attention, loaded from a Hugging Face Llama folder (``config.json``
with ``"model_type": "llama"`` and safetensors weights under transformers' names), with the same
``embed`` / ``forward(inputs_embeds, attention_mask, logits_mask, cache)`` / ``add_lora`` methods, so
the adapters, the audio splice and the Brains use it unchanged. What differs is what
:class:`~speechbrain_diffa.model.DIFFA2Model` does with it (``is_causal``): next-token
cross-entropy on the answer instead of the masked-diffusion loss, exact log-likelihoods instead
of Monte-Carlo ELBOs in stage 4, and greedy decoding with a KV cache instead of unmasking.
:func:`load_backbone` is the one YAML switch (``backbone: diffusion`` or ``autoregressive``).

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from speechbrain_diffa.hub.weight_files import safetensors_files
from speechbrain_diffa.llada import LLaDA, load_named_weights

BACKBONES = ("diffusion", "autoregressive")
# LlamaConfig keys a folder may set; anything else in its config.json is refused by name.
CONFIG_KEYS = {
    "model_type", "architectures", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "intermediate_size", "vocab_size", "hidden_act", "rms_norm_eps", "rope_theta", "rope_parameters",
    "max_position_embeddings", "attention_bias", "mlp_bias", "tie_word_embeddings", "pad_token_id", "bos_token_id",
    "eos_token_id", "initializer_range", "torch_dtype", "dtype", "transformers_version", "use_cache", "head_dim",
    "attention_dropout", "pretraining_tp", "rope_scaling", "is_causal",
}  # fmt: skip


def read_llama_config(path):
    """The ``LlamaConfig`` of a Hugging Face Llama folder, its keys checked against :data:`CONFIG_KEYS`.

    Example
    -------
    >>> import json
    >>> folder = getfixture("tmpdir")
    >>> _ = folder.join("config.json").write(json.dumps({"model_type": "llama", "hidden_size": 32,
    ...     "num_hidden_layers": 1, "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": 50,
    ...     "auto_map": {"AutoModel": "remote.Model"}}))
    >>> read_llama_config(str(folder))
    Traceback (most recent call last):
    ...
    ValueError: .../config.json: key(s) ['auto_map'] are not Llama settings this backbone reads
    """
    file = os.path.join(path, "config.json")
    if not os.path.isfile(file):
        raise FileNotFoundError(f"No config.json in {path} (an autoregressive backbone is a Hugging Face Llama folder)")
    with open(file, encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict) or config.get("model_type") != "llama":
        raise ValueError(f"{file}: the autoregressive backbone reads Llama folders (model_type 'llama')")
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{file}: key(s) {unknown} are not Llama settings this backbone reads")
    skipped = ("model_type", "architectures", "transformers_version", "is_causal")  # causal whatever it says
    values = {k: v for k, v in config.items() if k not in skipped}
    return LlamaConfig(**values, is_causal=True)


def matched_causal_config(llada_config):
    """The causal ``LlamaConfig`` with the sizes of a LLaDA ``config.json`` (the matched control's shape).

    Example
    -------
    >>> config = matched_causal_config({"d_model": 32, "n_layers": 2, "n_heads": 4, "mlp_hidden_size": 96,
    ...                                 "vocab_size": 100, "mask_token_id": 99, "eos_token_id": 98})
    >>> config.hidden_size, config.intermediate_size, config.is_causal
    (32, 96, True)
    """
    from speechbrain_diffa.llada import llama_config_from_llada

    same = llama_config_from_llada(llada_config)
    keys = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "intermediate_size",
            "vocab_size", "rms_norm_eps", "max_position_embeddings", "initializer_range", "eos_token_id",
            "bos_token_id", "tie_word_embeddings")  # fmt: skip
    return LlamaConfig(**{k: getattr(same, k) for k in keys}, rope_parameters=same.rope_parameters, is_causal=True)


class CausalLM(LLaDA):
    """A causal Llama with LLaDA's interface (the autoregressive control backbone).

    Arguments
    ---------
    config : transformers.LlamaConfig
        The model's configuration (causal attention).
    attn_implementation : str
        ``"sdpa"`` (default) or ``"eager"``.

    Example
    -------
    >>> config = LlamaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
    ...                      intermediate_size=64, vocab_size=100)
    >>> llm = CausalLM(config)
    >>> ids = torch.randint(0, 100, (1, 6))
    >>> full = llm(ids).logits
    >>> bool(torch.allclose(llm(ids[:, :3]).logits, full[:, :3], atol=1e-5))  # causal: the future is unseen
    True
    """

    is_causal = True

    def __init__(self, config, attn_implementation="sdpa"):
        torch.nn.Module.__init__(self)
        config.is_causal, config.use_cache = True, False
        config._attn_implementation = attn_implementation
        self.llm = LlamaForCausalLM(config)
        self.mask_token_id = None  # no mask token: this backbone never unmasks

    @classmethod
    def from_pretrained(cls, path, dtype=None, device=None, attn_implementation="sdpa", lora=None):
        """Load a Hugging Face Llama folder (``config.json`` + safetensors, transformers' names; no remote code).

        Arguments
        ---------
        path : str
            The folder.
        dtype : torch.dtype or str
            Cast the weights (default: as stored).
        device : str or torch.device
            Where to put the weights (default: CPU).
        attn_implementation : str
            ``"sdpa"`` or ``"eager"``.
        lora : dict
            If given, :meth:`~speechbrain_diffa.llada.LLaDA.add_lora` keyword arguments.

        Returns
        -------
        CausalLM

        Example
        -------
        >>> from speechbrain_diffa.demo.tiny_models import make_tiny_causal_lm
        >>> llm = CausalLM.from_pretrained(make_tiny_causal_lm(getfixture("tmpdir") + "/ar"), lora={"r": 4})
        >>> llm.is_causal, any("lora_A" in name for name, _ in llm.named_parameters())
        (True, True)
        """
        config = read_llama_config(path)
        files = safetensors_files(path)
        if not files:
            raise FileNotFoundError(f"No weights in {path}: expected model.safetensors or model.safetensors.index.json")
        device = torch.device(device or "cpu")
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        with torch.device("meta"):
            model = cls(config, attn_implementation=attn_implementation)
        tied = bool(config.tie_word_embeddings)
        # A Hugging Face Llama folder uses transformers' own names: each file name is its state-dict name.
        wanted = {k: k for k in model.llm.state_dict() if not (tied and k == "lm_head.weight")}
        load_named_weights(model, path, files, wanted, tied, device, dtype, "Llama")
        if lora is not None:
            model.add_lora(**lora)
        return model

    def save_pretrained(self, path, max_shard_bytes=2 * 1024**3):
        """Write the folder :meth:`from_pretrained` reads (transformers' own Llama layout)."""
        self.transformer.save_pretrained(path, max_shard_size=max_shard_bytes, safe_serialization=True)


def load_backbone(backbone, path, dtype=None, device=None, lora=None):
    """The language backbone a YAML names: ``"diffusion"`` (LLaDA) or ``"autoregressive"`` (a causal Llama).

    Arguments
    ---------
    backbone : str
        One of :data:`BACKBONES`.
    path, dtype, device, lora :
        As :meth:`LLaDA.from_pretrained` / :meth:`CausalLM.from_pretrained`.

    Returns
    -------
    LLaDA or CausalLM

    Example
    -------
    >>> load_backbone("transformer", "x")
    Traceback (most recent call last):
    ...
    ValueError: backbone must be one of ('diffusion', 'autoregressive'), got 'transformer'
    """
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    kind = LLaDA if backbone == "diffusion" else CausalLM
    return kind.from_pretrained(path, dtype=dtype, device=device, lora=lora)


def next_token_predictors(scored):
    """``(batch, time)`` True at the positions whose next token is ``scored`` (position j predicts token j + 1).

    Example
    -------
    >>> next_token_predictors(torch.tensor([[False, True, True]])).tolist()
    [[True, True, False]]
    """
    predictors = torch.zeros_like(scored)
    predictors[:, :-1] = scored[:, 1:]
    return predictors


def exact_log_likelihoods(scorers, ids, scored):
    """Log-probability ``(batch,)`` of the ``scored`` tokens of ``ids`` under each causal scorer.

    The autoregressive counterpart of :func:`~speechbrain_diffa.diffusion.monte_carlo_elbos`: no
    sampling, the same scorers (``scorer(ids, where) -> logits`` at the ``where`` positions).

    Arguments
    ---------
    scorers : list of callable
        ``scorer(ids, where)`` returns ``(n_where, vocab)`` logits, row-major.
    ids : torch.LongTensor
        ``(batch, time)`` clean sequences.
    scored : torch.BoolTensor
        ``(batch, time)`` the tokens whose log-probabilities are summed (each predicted from the
        position before it).

    Returns
    -------
    list of torch.Tensor
        One ``(batch,)`` tensor per scorer.

    Example
    -------
    >>> ids = torch.tensor([[1, 2, 3]])
    >>> uniform = lambda ids, where: torch.zeros(int(where.sum()), 4)
    >>> scored = torch.tensor([[False, True, True]])
    >>> [round(float(x), 4) for x in exact_log_likelihoods([uniform], ids, scored)[0]]
    [-2.7726]
    """
    predictors = next_token_predictors(scored)
    targets, rows = ids[scored], scored.nonzero()[:, 0]
    out = []
    for scorer in scorers:
        logits = scorer(ids, predictors).float()
        token = -torch.nn.functional.cross_entropy(logits, targets.to(logits.device), reduction="none")
        out.append(torch.zeros(ids.shape[0], device=token.device).index_add(0, rows.to(token.device), token))
    return out
