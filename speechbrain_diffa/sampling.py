"""Diffusion decoding: LLaDA's semi-autoregressive low-confidence remasking sampler.

With default options :func:`generate` reproduces the reference ``generate()`` of ML-GSAI/LLaDA
token for token at temperature 0, including its quirks (see ``reference/reference-behaviour.md``):
candidates are the argmax over the whole vocabulary, [MASK] included; only positions after the
current block are excluded, so masks left in earlier blocks or in the prompt compete too; the
per-step quota is the block's masked count divided by its steps, remainder to the first steps.

The same loop serves text-only models (``model(ids)``) and DIFFA-2 with audio: the audio path
passes a callable that splices the audio block in (:class:`speechbrain_diffa.model.AudioConditionedLM`).

Authors
 * speechbrain_diffa contributors 2026
"""

import torch
import torch.nn.functional as F

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
):
    """Answer by iterative unmasking of ``[MASK] x gen_length`` after ``prompt``.

    Arguments
    ---------
    model : callable
        ``model(ids)`` (or ``model(ids, attention_mask=...)``) returning ``.logits``
        ``(batch, time, vocab)``.
    prompt : torch.LongTensor
        ``(batch, prompt_len)``, left-padded when lengths differ (with ``attention_mask``).
    steps : int
        Total denoising steps, spread evenly over the blocks.
    gen_length : int
        Answer length (a multiple of ``block_length``).
    block_length : int
        Semi-autoregressive block size.
    temperature : float
        Gumbel noise temperature (0 = greedy).
    cfg_scale : float
        Classifier-free guidance scale (0 = off).
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
        Ids those switches act on (LLaDA's by default).

    Returns
    -------
    torch.LongTensor
        ``(batch, prompt_len + gen_length)``.

    Example
    -------
    >>> from speechbrain_diffa.llada import LLaDA
    >>> llm = LLaDA({"d_model": 32, "n_layers": 1, "n_heads": 4, "mlp_hidden_size": 64,
    ...              "vocab_size": 50, "mask_token_id": 49, "eos_token_id": 48}).eval()
    >>> out = generate(llm, torch.randint(0, 40, (2, 5)), steps=8, gen_length=8,
    ...                block_length=4, mask_id=49)
    >>> out.shape
    torch.Size([2, 13])
    """
    if gen_length % block_length:
        raise ValueError(f"gen_length ({gen_length}) must be a multiple of block_length ({block_length})")
    num_blocks = gen_length // block_length
    if steps % num_blocks:
        raise ValueError(f"steps ({steps}) must be a multiple of the number of blocks ({num_blocks})")
    if remasking not in ("low_confidence", "random"):
        raise ValueError(f"remasking must be 'low_confidence' or 'random', got {remasking!r}")
    batch, prompt_len = prompt.shape
    x = torch.cat([prompt, torch.full((batch, gen_length), mask_id, dtype=prompt.dtype, device=prompt.device)], 1)
    if attention_mask is not None:
        attention_mask = torch.cat([attention_mask, torch.ones_like(x[:, prompt_len:])], 1)
    prompt_index = x != mask_id
    steps_per_block = steps // num_blocks
    for block in range(num_blocks):
        start = prompt_len + block * block_length
        end = start + block_length
        quota = transfer_schedule(x[:, start:end] == mask_id, steps_per_block)
        for step in range(steps_per_block):
            masked = x == mask_id
            logits = _guided_logits(model, x, attention_mask, prompt_index, mask_id, cfg_scale)
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
            confidence[:, end:] = -torch.inf
            candidates = torch.where(masked, candidates, x)
            confidence = torch.where(masked, confidence, -torch.inf)
            commit = torch.zeros_like(masked)
            for row in range(batch):
                chosen = torch.topk(confidence[row], k=int(quota[row, step])).indices
                commit[row, chosen] = True
            x[commit] = candidates[commit]
    return x
