"""Masked-diffusion objectives: forward process, SFT loss, exact-k ELBO, VRPO with shared masks."""

import pytest
import torch

from speechbrain_diffa.diffusion import (
    exact_k_masks,
    forward_process,
    masked_diffusion_loss,
    monte_carlo_elbos,
    vrpo_loss,
)
from speechbrain_diffa.llada import LLaDA


def test_forward_process_masks_only_answer_at_rate_p():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 50, (4000, 20))
    answer = (torch.arange(20) >= 8).expand(4000, -1)
    noisy, masked, p = forward_process(ids, answer, mask_id=99, generator=gen)
    assert not masked[:, :8].any()
    assert torch.equal(noisy[~masked], ids[~masked]) and (noisy[masked] == 99).all()
    assert p.min() >= 1e-3 and p.max() <= 1
    rate = masked[:, 8:].float().mean(1)
    assert (rate - p).abs().mean() < 0.15  # per-sequence rate tracks p
    assert abs(float(p.mean()) - 0.5) < 0.02  # t ~ U(0, 1)


def test_sft_loss_weighting_and_normalisation():
    logits = torch.randn(5, 7)
    targets = torch.randint(0, 7, (5,))
    p = torch.tensor([0.5, 0.5, 0.25, 0.25, 1.0])
    ce = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    expected = (ce / p).sum() / 12
    assert torch.allclose(masked_diffusion_loss(logits, targets, p, 12), expected)


def test_sft_loss_is_unbiased_for_mean_answer_ce():
    """E[sum CE/p over masked] / L = mean CE over the answer: 1/t undoes the masking rate."""
    gen = torch.Generator().manual_seed(1)
    draws, length = 50000, 6
    token_ce = torch.rand(length) * 3  # fixed per-position CE of some model
    ids = torch.zeros(draws, length, dtype=torch.long)
    _, masked, p = forward_process(ids, torch.ones_like(ids, dtype=torch.bool), mask_id=1, generator=gen)
    estimates = (masked * token_ce / p[:, None]).sum(1) / length
    assert abs(float(estimates.mean()) - float(token_ce.mean())) < 0.05 * float(token_ce.mean())


def test_exact_k_masks():
    gen = torch.Generator().manual_seed(0)
    answer = torch.zeros(500, 12, dtype=torch.bool)
    answer[:, 4:] = True
    answer[::2, 10:] = False  # answer length 6 or 8
    masked, k, length = exact_k_masks(answer, gen)
    assert (masked.sum(1) == k).all() and (masked <= answer).all()
    assert (k >= 1).all() and (k <= length).all()
    assert set(k[length == 6].tolist()) == set(range(1, 7))
    with pytest.raises(ValueError, match="no answer tokens"):
        exact_k_masks(torch.zeros(1, 3, dtype=torch.bool))


def test_vrpo_loss_and_margin():
    chosen, rejected = torch.tensor([-10.0]), torch.tensor([-12.0])
    ref = torch.tensor([-11.0])
    loss, margin = vrpo_loss(chosen, ref, rejected, ref, beta=0.2)
    assert torch.allclose(margin, torch.tensor([0.2 * 2.0]))
    assert torch.allclose(loss, -torch.nn.functional.logsigmoid(torch.tensor([0.4])))


def _text_scorer(llm):
    def scorer(noisy, masked):
        return llm(noisy, logits_mask=masked).logits

    return scorer


def test_shared_masks_cut_the_variance_of_the_elbo_difference():
    """VRPO's antithetic sampling: policy and reference on the same masks.

    The policy is the reference with slightly perturbed weights, as after a few VRPO steps.
    The difference of their ELBOs varies far less with shared masks than with independent ones.
    """
    torch.manual_seed(0)
    config = {
        "d_model": 32,
        "n_layers": 2,
        "n_heads": 4,
        "mlp_hidden_size": 96,
        "vocab_size": 64,
        "mask_token_id": 63,
        "eos_token_id": 62,
    }
    reference = LLaDA(config).eval()
    policy = LLaDA(config).eval()
    policy.load_state_dict(reference.state_dict())
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * p.std() * torch.randn_like(p))
    ids = torch.randint(0, 60, (1, 24))
    answer = torch.arange(24)[None] >= 8
    gen = torch.Generator().manual_seed(0)
    shared, independent = [], []
    with torch.no_grad():
        for _ in range(150):
            pol, ref = monte_carlo_elbos([_text_scorer(policy), _text_scorer(reference)], ids, answer, 63, 1, gen)
            shared.append(float(pol - ref))
            (pol,) = monte_carlo_elbos([_text_scorer(policy)], ids, answer, 63, 1, gen)
            (ref,) = monte_carlo_elbos([_text_scorer(reference)], ids, answer, 63, 1, gen)
            independent.append(float(pol - ref))
    ratio = torch.tensor(independent).var() / torch.tensor(shared).var()
    print(f"variance ratio independent/shared masks: {ratio:.1f}")
    assert ratio > 10
