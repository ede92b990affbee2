"""Diffusion decoding: LLaDA's semi-autoregressive low-confidence remasking sampler.

With default options :func:`generate` reproduces the reference ``generate()`` of ML-GSAI/LLaDA
token for token at temperature 0, including its quirks (``docs/sources.md``, "Reference sampler behaviour"):
candidates are the argmax over the whole vocabulary, [MASK] included; only positions after the
current block are excluded, so masks left in earlier blocks or in the prompt compete too; the
per-step quota is the block's masked count divided by its steps, remainder to the first steps.

The same loop serves text-only models (``model(ids)``) and DIFFA-2 with audio: the audio path
passes a callable that splices the audio block in (:class:`speechbrain_diffa.model.AudioConditionedLM`).

Fast options, each a small step of the same loop (all off by default):

* ``threshold`` / ``factor``: commit several tokens per step (Fast-dLLM's confidence threshold;
  DIFFA-2's factor rule), and move on as soon as the block has no masks left;
* ``eos_early_stop``: stop a row once its block holds EOS with no mask before it (DIFFA-2 FPD);
* ``cache="prefix"`` / ``"dual"``: encode everything once per block, then feed only the block
  (and, for ``prefix``, what follows it) against cached keys/values (Fast-dLLM's block cache);
* with any fast option the LM head runs only on the still-masked positions of the current block.

With a fast option the candidates are restricted to the current block (the reference also lets
masks left in earlier blocks compete, which needs the whole canvas).

Authors
 * speechbrain_diffa contributors 2026
"""

import torch
import torch.nn.functional as F

from speechbrain_diffa.decoding_presets import (  # noqa: F401 (re-exported)
    CACHED_DECODING,
    EOS_STOP_DECODING,
    FAST_DECODING,
    REFERENCE_DECODING,
)
from speechbrain_diffa.llada import LLaDA, crop_cache, drop_cache_span

LLADA_MASK_ID = 126336
LLADA_EOS_ID = 126081
LLADA_EOT_ID = 126348


def add_gumbel_noise(logits, temperature):
    """Gumbel-max sampling noise in float64 (low precision hurts quality); identity at 0.

    Example
    -------
    >>> x = torch.randn(2, 3)
    >>> add_gumbel_noise(x, 0.0) is x
    True
    """
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    uniform = torch.rand_like(logits, dtype=torch.float64)
    return logits.exp() / (-torch.log(uniform)) ** temperature


def transfer_schedule(block_masked, steps):
    """How many tokens each step commits: ``masked // steps``, remainder to the first steps.

    Arguments
    ---------
    block_masked : torch.BoolTensor
        ``(batch, block_length)`` masked positions of the block at its start.
    steps : int
        Steps for this block.

    Returns
    -------
    torch.LongTensor
        ``(batch, steps)``.

    Example
    -------
    >>> transfer_schedule(torch.ones(1, 10, dtype=torch.bool), 4).tolist()
    [[3, 3, 2, 2]]
    """
    count = block_masked.sum(1, keepdim=True)
    base, remainder = count // steps, count % steps
    step = torch.arange(steps, device=block_masked.device)[None, :]
    return base + (step < remainder).long()


def _logits(model, x, attention_mask):
    if attention_mask is None:
        return model(x).logits
    return model(x, attention_mask=attention_mask).logits


def _guided_logits(model, x, attention_mask, prompt_index, mask_id, cfg_scale):
    """Classifier-free guidance: the unconditional pass masks the whole prompt."""
    if cfg_scale <= 0:
        return _logits(model, x, attention_mask)
    unconditional = x.masked_fill(prompt_index, mask_id)
    if attention_mask is None:  # the reference fails here; an all-ones mask is what it means
        attention_mask = torch.ones_like(x)
    both = _logits(model, torch.cat([x, unconditional]), torch.cat([attention_mask, attention_mask]))
    cond, uncond = both.chunk(2)
    return uncond + (cfg_scale + 1) * (cond - uncond)


class BlockRunner:
    """Runs LLaDA on the current block only, with or without a block KV cache (fast path).

    Arguments
    ---------
    llm : speechbrain_diffa.llada.LLaDA
        The backbone.
    embeds : torch.Tensor
        ``(batch, seq, d_model)`` inputs for the whole canvas (audio spliced in, if any).
    seq_mask : torch.Tensor
        ``(batch, seq)`` key-padding mask of ``embeds``.
    offset : int
        Sequence index of canvas position 0 of the answer region minus its canvas index (the
        audio block's length for DIFFA-2, 0 for text).
    cache : str or None
        ``None``, ``"prefix"`` or ``"dual"``.
    """

    def __init__(self, llm, embeds, seq_mask, offset, cache=None):
        if cache not in (None, "prefix", "dual"):
            raise ValueError(f"cache must be None, 'prefix' or 'dual', got {cache!r}")
        self.llm, self.embeds, self.mask, self.offset, self.mode = llm, embeds, seq_mask, offset, cache
        self.positions = (seq_mask.long().cumsum(-1) - 1).clamp(min=0)
        self.cache, self.first_answer_position = None, None

    @classmethod
    def wrap(cls, model, x, attention_mask, cache, **options):
        """A runner for an LLaDA or an audio-conditioned model; None for other callables."""
        if isinstance(model, LLaDA):
            mask = torch.ones_like(x) if attention_mask is None else attention_mask
            return cls(model, model.embed(x), mask, 0, cache, **options)
        if hasattr(model, "prepare_inputs"):
            embeds, mask, offset = model.prepare_inputs(x, attention_mask)
            return cls(model.llm, embeds, mask, offset, cache, **options)
        if cache is not None:
            raise ValueError("cache needs an LLaDA or an AudioConditionedLM model")
        return None

    def block_logits(self, x, start, end, first_step, wanted):
        """Logits ``(n, vocab)`` of the canvas positions ``[start, end)`` where ``wanted`` is True.

        Arguments
        ---------
        x : torch.LongTensor
            ``(batch, canvas)`` current canvas.
        start, end : int
            The current block.
        first_step : bool
            First step of the block: encode the whole sequence (and refresh the cache).
        wanted : torch.BoolTensor
            ``(batch, end - start)``: positions that need logits (those still masked); the LM
            head (126,464 wide for LLaDA) runs only there.
        """
        a, b = start + self.offset, end + self.offset
        if first_step:  # the whole answer: the previous block's last commits are not embedded yet
            self.embeds[:, self.answer_start(start) + self.offset :] = self.llm.embed(x[:, self.answer_start(start) :])
        else:
            self.embeds[:, a:b] = self.llm.embed(x[:, start:end])
        if self.mode is None or first_step:
            where = torch.zeros(self.mask.shape, dtype=torch.bool, device=x.device)
            where[:, a:b] = wanted
            out = self.llm(
                inputs_embeds=self.embeds,
                attention_mask=None if bool(self.mask.all()) else self.mask,
                position_ids=self.positions,
                use_cache=self.mode is not None,
                logits_mask=where,
            )
            if self.mode is not None:
                self._keep_cache(out.cache, a, b)
            return out.logits
        hi = self.embeds.shape[1] if self.mode == "prefix" else b
        where = torch.zeros((x.shape[0], hi - a), dtype=torch.bool, device=x.device)
        where[:, : b - a] = wanted
        out = self.llm(
            inputs_embeds=self.embeds[:, a:hi],
            attention_mask=torch.cat([self.cache_mask, self.mask[:, a:hi]], 1),
            position_ids=self.positions[:, a:hi],
            cache=self.cache,
            logits_mask=where,
        )
        crop_cache(self.cache, self.cache_length)
        return out.logits

    def answer_start(self, start):
        """Canvas index of the answer's first position (the first block's ``start``, remembered)."""
        if self.first_answer_position is None:
            self.first_answer_position = start
        return self.first_answer_position

    def _keep_cache(self, cache, a, b):
        if self.mode == "prefix":
            crop_cache(cache, a)
            self.cache_mask = self.mask[:, :a]
        else:
            drop_cache_span(cache, a, b)
            self.cache_mask = torch.cat([self.mask[:, :a], self.mask[:, b:]], 1)
        self.cache, self.cache_length = cache, cache.get_seq_length()


def _propose(logits, temperature, remasking, logits_eos_inf, confidence_eos_eot_inf, eos_id, eot_id):
    """Candidate tokens and their confidences, exactly as the reference computes them."""
    if logits_eos_inf:
        logits[:, :, eos_id] = -torch.inf
    noisy = add_gumbel_noise(logits, temperature)
    candidates = noisy.argmax(-1)
    if confidence_eos_eot_inf:
        # As the reference: at temperature 0 `noisy` *is* `logits`, so EOS confidence
        # drops to 0 as well as EoT's; with noise only EoT's does.
        noisy[:, :, eos_id] = -torch.inf
        logits[:, :, eot_id] = -torch.inf
    if remasking == "low_confidence":
        confidence = F.softmax(logits, dim=-1).gather(-1, candidates[..., None]).squeeze(-1)
    else:
        confidence = torch.rand(candidates.shape, device=candidates.device)
    return candidates, confidence


def threshold_counts(confidence, masked, threshold):
    """Commit every masked token with confidence >= threshold, at least one (Fast-dLLM).

    Example
    -------
    >>> conf = torch.tensor([[0.95, 0.5, 0.92, 0.1]])
    >>> threshold_counts(conf, torch.ones(1, 4, dtype=torch.bool), 0.9).tolist()
    [2]
    """
    count = ((confidence >= threshold) & masked).sum(1).clamp(min=1)
    return torch.minimum(count, masked.sum(1))


def factor_counts(confidence, masked, factor):
    """DIFFA-2's factor rule: the longest prefix of the sorted confidences with c(n) >= 1 - f/(n+1).

    The top token is always taken; as in the release, when only the last candidate fails, all
    are taken.

    Example
    -------
    >>> conf = torch.tensor([[0.9, 0.8, 0.2, 0.7]])
    >>> factor_counts(conf, torch.ones(1, 4, dtype=torch.bool), 1.0).tolist()
    [2]
    """
    m = masked.sum(1)
    ranked = confidence.masked_fill(~masked, -torch.inf).sort(1, descending=True).values
    n = torch.arange(1, ranked.shape[1] + 1, device=ranked.device)
    bar = 1 - factor / (n + 1.0)
    bar[0] = -torch.inf
    fails = (ranked < bar) & (n <= m[:, None])
    first_fail = torch.where(fails.any(1), fails.float().argmax(1), m)
    return torch.where(first_fail == m - 1, m, first_fail)


def _stop_at_eos(x, start, end, mask_id, eos_id, finished):
    """Rows whose block holds EOS with no mask before it: fill the rest with EOS and finish."""
    block = x[:, start:end]
    is_eos = block == eos_id
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), block.shape[1])
    col = torch.arange(block.shape[1], device=x.device)[None, :]
    clean = ~((block == mask_id) & (col < first[:, None])).any(1)
    stop = is_eos.any(1) & clean & ~finished
    fill = stop[:, None] & (torch.arange(x.shape[1], device=x.device)[None, :] > start + first[:, None])
    x[fill] = eos_id
    return finished | stop


@torch.no_grad()
def generate(
    model,
    prompt,
    steps=128,
    gen_length=128,
    block_length=128,
    temperature=0.0,
    cfg_scale=0.0,
    remasking="low_confidence",
    mask_id=LLADA_MASK_ID,
    attention_mask=None,
    logits_eos_inf=False,
    confidence_eos_eot_inf=False,
    eos_id=LLADA_EOS_ID,
    eot_id=LLADA_EOT_ID,
    threshold=None,
    factor=None,
    cache=None,
    eos_early_stop=False,
    static_cache=False,
    cuda_graphs=False,
    stats=None,
    on_block=None,
):
    """Answer by iterative unmasking of ``[MASK] x gen_length`` after ``prompt``.

    Arguments
    ---------
    model : callable
        ``model(ids)`` (or ``model(ids, attention_mask=...)``) returning ``.logits``
        ``(batch, time, vocab)``. The cache needs an :class:`~speechbrain_diffa.llada.LLaDA` or
        an :class:`~speechbrain_diffa.model.AudioConditionedLM`.
    prompt : torch.LongTensor
        ``(batch, prompt_len)``, left-padded when lengths differ (with ``attention_mask``).
    steps : int
        Total denoising steps, spread evenly over the blocks (a cap per block is not applied
        with ``threshold``/``factor``, which decide how many tokens each step commits).
    gen_length : int
        Answer length (a multiple of ``block_length``).
    block_length : int
        Semi-autoregressive block size.
    temperature : float
        Gumbel noise temperature (0 = greedy).
    cfg_scale : float
        Classifier-free guidance scale (0 = off; reference path only).
    remasking : str
        ``"low_confidence"`` (commit the most probable tokens) or ``"random"``.
    mask_id : int
        The [MASK] token id.
    attention_mask : torch.Tensor
        ``(batch, prompt_len)``, 0 on padding; the answer region is always attended.
    logits_eos_inf : bool
        Forbid EOS entirely.
    confidence_eos_eot_inf : bool
        The reference's EOS/EoT switch, with its exact effect: EoT confidence becomes 0, and
        EOS confidence too at temperature 0 (the reference edits the logits in place there).
    eos_id, eot_id : int
        Ids those switches (and ``eos_early_stop``) act on (LLaDA's by default).
    threshold : float
        Commit every masked token of the block whose confidence reaches it (at least one).
    factor : float
        DIFFA-2's factor rule (f = 1.0 in the release).
    cache : str
        ``"prefix"`` or ``"dual"`` block KV cache.
    eos_early_stop : bool
        Stop a row when its current block has EOS and no mask before it.
    static_cache : bool
        Run the fast path's passes on preallocated buffers (the block cache written in place), so
        every pass of a kind has one shape (:mod:`speechbrain_diffa.static_cache`). Same answers.
    cuda_graphs : bool
        Capture each pass of the static cache as a CUDA graph and replay it (a CUDA model;
        needs ``static_cache``).
    stats : dict
        If given, receives ``nfe`` (forward passes).
    on_block : callable
        If given, called after each block with the answer so far, ``(batch, tokens up to the
        block's end)`` (what a streaming server sends as each block is committed).

    Returns
    -------
    torch.LongTensor
        ``(batch, prompt_len + gen_length)``.

    Example
    -------
    >>> llm = LLaDA({"d_model": 32, "n_layers": 1, "n_heads": 4, "mlp_hidden_size": 64,
    ...              "vocab_size": 50, "mask_token_id": 49, "eos_token_id": 48}).eval()
    >>> prompt = torch.randint(0, 40, (2, 5))
    >>> out = generate(llm, prompt, steps=8, gen_length=8, block_length=4, mask_id=49)
    >>> out.shape
    torch.Size([2, 13])
    >>> stats = {}
    >>> fast = generate(llm, prompt, steps=8, gen_length=8, block_length=4, mask_id=49,
    ...                 factor=1.0, cache="dual", stats=stats)
    >>> stats["nfe"] <= 8
    True
    """
    if gen_length % block_length:
        raise ValueError(f"gen_length ({gen_length}) must be a multiple of block_length ({block_length})")
    num_blocks = gen_length // block_length
    if steps % num_blocks:
        raise ValueError(f"steps ({steps}) must be a multiple of the number of blocks ({num_blocks})")
    if remasking not in ("low_confidence", "random"):
        raise ValueError(f"remasking must be 'low_confidence' or 'random', got {remasking!r}")
    if cuda_graphs and not static_cache:
        raise ValueError("cuda_graphs replays the static cache's passes: give static_cache=True too")
    adaptive = threshold is not None or factor is not None
    fast = adaptive or cache is not None or eos_early_stop or static_cache
    if fast and cfg_scale > 0:
        raise ValueError("classifier-free guidance runs with the reference sampler only (no fast options)")
    batch, prompt_len = prompt.shape
    x = torch.cat([prompt, torch.full((batch, gen_length), mask_id, dtype=prompt.dtype, device=prompt.device)], 1)
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones_like(x[:, prompt_len:])], 1)
    prompt_index = x != mask_id
    runner = None
    if static_cache:
        from speechbrain_diffa.static_cache import StaticBlockRunner

        runner = StaticBlockRunner.wrap(model, x, attention_mask, cache, block_length=block_length,
                                        cuda_graphs=cuda_graphs)  # fmt: skip
        if runner is None:
            raise ValueError("static_cache needs an LLaDA or an AudioConditionedLM model")
    elif fast:
        runner = BlockRunner.wrap(model, x, attention_mask, cache)
    proposal = (temperature, remasking, logits_eos_inf, confidence_eos_eot_inf, eos_id, eot_id)
    steps_per_block = steps // num_blocks
    finished = torch.zeros(batch, dtype=torch.bool, device=x.device)
    nfe = 0
    for block in range(num_blocks):
        start = prompt_len + block * block_length
        end = start + block_length
        quota = transfer_schedule(x[:, start:end] == mask_id, steps_per_block)
        for step in range(block_length if adaptive else steps_per_block):
            if runner is None:  # reference: the whole canvas
                lo = 0
                logits = _guided_logits(model, x, attention_mask, prompt_index, mask_id, cfg_scale)
                candidates, confidence = _propose(logits, *proposal)
            else:  # fast: only the still-masked positions of the current block
                lo = start
                wanted = (x[:, start:end] == mask_id) & ~finished[:, None]
                logits = runner.block_logits(x, start, end, step == 0, wanted)
                if logits.dim() == 3:  # the whole block's logits (captured graphs: a fixed shape)
                    candidates, confidence = _propose(logits, *proposal)
                    confidence = confidence.float().masked_fill(~wanted, -torch.inf)
                else:
                    picked, picked_confidence = _propose(logits[None], *proposal)
                    candidates = x[:, start:end].masked_scatter(wanted, picked[0])
                    confidence = torch.full(wanted.shape, -torch.inf, device=x.device)
                    confidence = confidence.masked_scatter(wanted, picked_confidence[0].to(confidence.dtype))
            nfe += 1
            window = x[:, lo : lo + candidates.shape[1]]
            masked = (window == mask_id) & ~finished[:, None]
            confidence[:, end - lo :] = -torch.inf  # nothing after the current block is committed
            candidates = torch.where(masked, candidates, window)
            confidence = torch.where(masked, confidence, -torch.inf)
            if threshold is not None:
                counts = threshold_counts(confidence, masked, threshold)
            elif factor is not None:
                counts = factor_counts(confidence, masked, factor)
            else:
                counts = quota[:, step].masked_fill(finished, 0)
            # The reference's own per-row topk on every path, so that ties (frequent in bf16) go the same way
            # whatever the options; the counts are read back once per pass, not once per row.
            commit = torch.zeros_like(masked)
            for row, count in enumerate(counts.tolist()):
                commit[row, torch.topk(confidence[row], k=int(count)).indices] = True
            window[commit] = candidates[commit]
            if eos_early_stop:
                finished = _stop_at_eos(x, start, end, mask_id, eos_id, finished)
            if fast and not ((x[:, start:end] == mask_id) & ~finished[:, None]).any():
                break  # block done (the reference keeps stepping: leftover masks elsewhere may commit)
        if on_block is not None:
            on_block(x[:, prompt_len:end])
        if bool(finished.all()):
            break
    if stats is not None:
        stats["nfe"] = nfe
    return x
