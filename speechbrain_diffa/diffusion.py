"""Masked-diffusion objectives: the forward process, the SFT loss, the Monte-Carlo ELBO and VRPO.

Conventions: ``ids`` is ``(batch, time)``; ``answer_mask`` marks the answer side (assistant header,
answer, end-of-turn and EOS padding), the only positions that are ever masked and scored.
Functions that score predictions take logits *only at the masked positions*, ``(n_masked, vocab)``
in row-major order, so callers can run the 126,464-wide LM head only there
(``LLaDA.forward(logits_mask=...)``).

Authors
 * speechbrain_diffa contributors 2026
"""

import zlib

import torch
import torch.nn.functional as F

EPS = 1e-3  # lower bound of the masking ratio (LLaDA GUIDELINES, DIFFA collate_fn)


def item_generators(seed, keys):
    """One CPU generator per batch row, seeded from ``seed`` and the row's key.

    Noise drawn this way depends only on the item and the key, not on which batch, rank or
    resumed run the item lands in: a run split over DDP ranks, or killed and resumed, masks
    each item exactly as an uninterrupted single-process run does.

    Arguments
    ---------
    seed : int
        Experiment seed.
    keys : list of str
        One key per row, e.g. ``f"{epoch}/{item_id}"``.

    Returns
    -------
    list of torch.Generator

    Example
    -------
    >>> a, b = item_generators(1, ["e1/x", "e1/y"])
    >>> torch.rand(2, generator=a).tolist() == torch.rand(2, generator=item_generators(1, ["e1/x"])[0]).tolist()
    True
    """
    return [torch.Generator().manual_seed(zlib.crc32(f"{seed}/{key}".encode())) for key in keys]


def answer_mask(ids, prompt_lengths):
    """``(batch, time)`` True on the answer side: every position at or after the prompt's end.

    Example
    -------
    >>> answer_mask(torch.zeros(2, 4, dtype=torch.long), torch.tensor([1, 3])).int().tolist()
    [[0, 1, 1, 1], [0, 0, 0, 1]]
    """
    positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
    return positions >= prompt_lengths.to(ids.device)[:, None]


def uniform_noise(shape, generator, device):
    """``torch.rand(shape)``; a list of generators draws row ``i`` from ``generator[i]``.

    Per-row draws are made on the CPU, so they are the same on every device.

    Example
    -------
    >>> uniform_noise((2, 3), item_generators(0, ["a", "b"]), "cpu").shape
    torch.Size([2, 3])
    """
    if isinstance(generator, (list, tuple)):
        if len(generator) != shape[0]:
            raise ValueError(f"{len(generator)} generators for {shape[0]} rows")
        rows = [torch.rand(shape[1:], generator=g) for g in generator]
        return torch.stack(rows).to(device)
    return torch.rand(shape, generator=generator, device=device)


def forward_process(ids, answer_mask, mask_id, eps=EPS, t=None, generator=None):
    """Mask each answer token independently with probability ``p = (1 - eps) t + eps``, t ~ U(0, 1).

    Arguments
    ---------
    ids : torch.LongTensor
        ``(batch, time)`` clean tokens.
    answer_mask : torch.BoolTensor
        ``(batch, time)`` positions that may be masked.
    mask_id : int
        The [MASK] token id.
    eps : float
        Smallest masking ratio.
    t : torch.Tensor
        ``(batch,)`` timesteps in [0, 1] (default: drawn uniformly).
    generator : torch.Generator or list of torch.Generator
        Source of randomness (a list: one per row, see :func:`item_generators`).

    Returns
    -------
    noisy : torch.LongTensor
        ``ids`` with masked positions set to ``mask_id``.
    masked : torch.BoolTensor
        Which positions were masked (always inside ``answer_mask``).
    p : torch.Tensor
        ``(batch,)`` masking probability of each sequence (the 1/t weight uses it).

    Example
    -------
    >>> ids = torch.arange(10).repeat(2, 1)
    >>> answer = torch.arange(10) >= 6
    >>> noisy, masked, p = forward_process(ids, answer.expand(2, -1), mask_id=99, t=torch.ones(2))
    >>> noisy[0].tolist()
    [0, 1, 2, 3, 4, 5, 99, 99, 99, 99]
    """
    batch, length = ids.shape
    if t is None:
        t = uniform_noise((batch, 1), generator, ids.device)[:, 0]
    p = (1 - eps) * t + eps
    draws = uniform_noise((batch, length), generator, ids.device)
    masked = (draws < p[:, None]) & answer_mask
    noisy = torch.where(masked, torch.full_like(ids, mask_id), ids)
    return noisy, masked, p


def masked_diffusion_loss(logits, targets, p, num_answer_tokens):
    """LLaDA's SFT loss as DIFFA normalises it: sum over masked tokens of CE / p, over answer tokens.

    Arguments
    ---------
    logits : torch.Tensor
        ``(n_masked, vocab)`` predictions at the masked positions.
    targets : torch.LongTensor
        ``(n_masked,)`` clean tokens there.
    p : torch.Tensor
        ``(n_masked,)`` masking probability of each token's sequence.
    num_answer_tokens : int or torch.Tensor
        Answer-side tokens in the batch, EOS padding included (DIFFA's denominator: the
        batch-level form of LLaDA's per-sequence 1 / answer length).

    Returns
    -------
    torch.Tensor
        Scalar loss.

    Example
    -------
    >>> logits = torch.zeros(3, 5)
    >>> loss = masked_diffusion_loss(logits, torch.tensor([0, 1, 2]), torch.full((3,), 0.5), 6)
    >>> round(loss.item(), 4) == round(3 * torch.log(torch.tensor(5.)).item() / 0.5 / 6, 4)
    True
    """
    ce = F.cross_entropy(logits.float(), targets, reduction="none")
    return (ce / p.float()).sum() / max(int(num_answer_tokens), 1)


def exact_k_masks(answer_mask, generator=None):
    """Mask exactly k ~ U{1..L} answer positions per sequence (L = its answer length).

    This is the low-variance likelihood estimator of LLaDA's ``get_log_likelihood`` and of
    DIFFA-2's VRPO (draws are not stratified, as in DIFFA-2).

    Returns
    -------
    masked : torch.BoolTensor
        ``(batch, time)``.
    k : torch.LongTensor
        ``(batch,)`` masked count.
    length : torch.LongTensor
        ``(batch,)`` answer length L.

    Example
    -------
    >>> answer = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]]).bool()
    >>> masked, k, length = exact_k_masks(answer)
    >>> bool((masked.sum(1) == k).all() and (masked <= answer).all()), length.tolist()
    (True, [3, 2])
    """
    length = answer_mask.sum(1)
    if bool((length == 0).any()):
        raise ValueError("exact_k_masks: a sequence has no answer tokens")
    u = uniform_noise((len(length), 1), generator, answer_mask.device)[:, 0]
    k = (u * length).long().clamp(max=length - 1) + 1
    scores = uniform_noise(tuple(answer_mask.shape), generator, answer_mask.device)
    scores = scores.masked_fill(~answer_mask, 2.0)  # non-answer positions rank last
    rank = scores.argsort(1).argsort(1)
    masked = rank < k[:, None]
    return masked, k, length


def weighted_nll(logits, targets, masked, weights):
    """Per-sequence sum over masked tokens of ``weight * CE``.

    Arguments
    ---------
    logits : torch.Tensor
        ``(n_masked, vocab)`` at the masked positions (row-major order).
    targets : torch.LongTensor
        ``(n_masked,)``.
    masked : torch.BoolTensor
        ``(batch, time)`` the mask the logits were taken at.
    weights : torch.Tensor
        ``(batch,)`` weight of each sequence's tokens (``L / k`` for the ELBO).

    Returns
    -------
    torch.Tensor
        ``(batch,)``.

    Example
    -------
    >>> masked = torch.tensor([[1, 0], [1, 1]]).bool()
    >>> weighted_nll(torch.zeros(3, 4), torch.zeros(3).long(), masked, torch.ones(2)).tolist()
    [1.3862943649291992, 2.7725887298583984]
    """
    ce = F.cross_entropy(logits.float(), targets, reduction="none")
    rows = masked.nonzero()[:, 0]
    per_token = ce * weights.float()[rows]
    return torch.zeros(masked.shape[0], device=ce.device).index_add(0, rows, per_token)


def monte_carlo_elbos(scorers, ids, answer_mask, mask_id, num_samples=4, generator=None):
    """ELBO of each sequence under several models, with the masks *shared* between the models.

    Each draw masks exactly k ~ U{1..L} answer tokens; every scorer sees the same perturbed
    sequence (VRPO's antithetic sampling: policy and reference errors then largely cancel in
    their difference). ELBO = -mean over draws of sum over masked tokens of CE * L / k.

    Arguments
    ---------
    scorers : list of callables
        ``scorer(noisy_ids, masked) -> logits (n_masked, vocab)`` for each model.
    ids : torch.LongTensor
        ``(batch, time)`` clean sequences.
    answer_mask : torch.BoolTensor
        ``(batch, time)`` answer side.
    mask_id : int
        The [MASK] id.
    num_samples : int
        Monte-Carlo draws (DIFFA-2: 4).
    generator : torch.Generator or list of torch.Generator
        Source of randomness (a list: one per row).

    Returns
    -------
    list of torch.Tensor
        One ``(batch,)`` ELBO per scorer.

    Example
    -------
    >>> uniform = lambda noisy, masked: torch.zeros(int(masked.sum()), 10)
    >>> ids = torch.randint(0, 9, (2, 6)); answer = torch.arange(6).expand(2, -1) >= 2
    >>> (elbo,) = monte_carlo_elbos([uniform], ids, answer, mask_id=9)
    >>> torch.allclose(elbo, torch.full((2,), -4 * torch.log(torch.tensor(10.))))
    True
    """
    totals = [0.0] * len(scorers)
    for _ in range(num_samples):
        masked, k, length = exact_k_masks(answer_mask, generator)
        noisy = torch.where(masked, torch.full_like(ids, mask_id), ids)
        targets = ids[masked]
        weights = length.float() / k.float()
        for i, scorer in enumerate(scorers):
            totals[i] = totals[i] - weighted_nll(scorer(noisy, masked), targets, masked, weights)
    return [total / num_samples for total in totals]


def vrpo_loss(policy_chosen, reference_chosen, policy_rejected, reference_rejected, beta=0.2):
    """DPO on ELBOs (VRPO): ``-log sigmoid(beta [(pi_w - ref_w) - (pi_l - ref_l)])``.

    Arguments
    ---------
    policy_chosen, reference_chosen, policy_rejected, reference_rejected : torch.Tensor
        ``(batch,)`` ELBOs (see :func:`monte_carlo_elbos`).
    beta : float
        DPO temperature (DIFFA-2: 0.2).

    Returns
    -------
    loss : torch.Tensor
        Scalar, mean over the batch.
    margin : torch.Tensor
        ``(batch,)`` reward margin ``beta [(pi_w - ref_w) - (pi_l - ref_l)]``.

    Example
    -------
    >>> zero = torch.zeros(2)
    >>> loss, margin = vrpo_loss(zero, zero, zero, zero)
    >>> round(loss.item(), 4)
    0.6931
    """
    margin = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    return -F.logsigmoid(margin).mean(), margin.detach()
