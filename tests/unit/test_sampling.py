"""The reference sampler: schedule, semi-autoregressive blocks, quirks, padding, guidance."""

from types import SimpleNamespace

import pytest
import torch

from speechbrain_diffa.llada import LLaDA
from speechbrain_diffa.sampling import generate, transfer_schedule

MASK, EOS, EOT, VOCAB = 31, 30, 29, 32


class Recorder:
    """A fake model with fixed logits per position; records every canvas it is shown."""

    def __init__(self, logits):
        self.logits = logits
        self.seen = []

    def __call__(self, x, attention_mask=None):
        self.seen.append(x.clone())
        return SimpleNamespace(logits=self.logits[: x.shape[0], : x.shape[1]].clone())


@pytest.fixture(scope="module")
def llm():
    torch.manual_seed(0)
    return LLaDA(
        {
            "d_model": 32,
            "n_layers": 2,
            "n_heads": 4,
            "mlp_hidden_size": 64,
            "vocab_size": VOCAB,
            "mask_token_id": MASK,
            "eos_token_id": EOS,
        }
    ).eval()


def test_transfer_schedule_remainder_first():
    masked = torch.zeros(2, 8, dtype=torch.bool)
    masked[0, :7] = True
    masked[1, :2] = True
    assert transfer_schedule(masked, 3).tolist() == [[3, 2, 2], [1, 1, 0]]


def test_one_commit_per_step_and_blocks_left_to_right():
    torch.manual_seed(0)
    model = Recorder(torch.randn(1, 12, VOCAB).index_fill(2, torch.tensor([MASK]), -1e9))
    prompt = torch.randint(0, 20, (1, 4))
    out = generate(model, prompt, steps=8, gen_length=8, block_length=4, mask_id=MASK)
    assert len(model.seen) == 8
    for step, canvas in enumerate(model.seen):
        assert int((canvas[0, 4:] == MASK).sum()) == 8 - step
        if step < 4:  # second block untouched while the first is decoded
            assert (canvas[0, 8:] == MASK).all()
    assert torch.equal(out[:, :4], prompt) and not (out == MASK).any()
    # Greedy: every committed token is the argmax of its position.
    assert torch.equal(out[0, 4:], model.logits[0, 4:].argmax(-1))


def test_committed_mask_uses_quota_and_stays_masked():
    """Candidates include [MASK]; committing one leaves the position masked (reference quirk).

    Position 3 stays masked and keeps winning, so it takes every step's quota: nothing else
    is ever committed, exactly as in LLaDA's generate().
    """
    logits = torch.zeros(1, 6, VOCAB)
    logits[0, :, 5] = 1.0
    logits[0, 3, MASK] = 50.0  # position 3 is very sure it is a mask
    model = Recorder(logits)
    out = generate(model, torch.tensor([[1, 2]]), steps=4, gen_length=4, block_length=4, mask_id=MASK)
    assert (out[0, 2:] == MASK).all()
    assert (model.seen[-1][0, 2:] == MASK).all()


def test_confidence_eos_eot_switch_at_temperature_zero():
    """EOS and EoT confidences drop to 0, so they are committed after everything else."""
    logits = torch.zeros(1, 5, VOCAB)
    logits[0, 1, EOS] = 9.0  # most confident: EOS
    logits[0, 2, EOT] = 8.0  # then EoT
    logits[0, 3, 7] = 1.0
    logits[0, 4, 8] = 0.5
    plain = Recorder(logits)
    generate(plain, torch.tensor([[1]]), steps=4, gen_length=4, block_length=4, mask_id=MASK)
    assert plain.seen[1][0, 1] == EOS  # committed first
    switched = Recorder(logits)
    out = generate(
        switched,
        torch.tensor([[1]]),
        steps=4,
        gen_length=4,
        block_length=4,
        mask_id=MASK,
        confidence_eos_eot_inf=True,
        eos_id=EOS,
        eot_id=EOT,
    )
    assert switched.seen[2][0, 3] == 7 and switched.seen[2][0, 4] == 8
    assert out[0, 1:].tolist() == [EOS, EOT, 7, 8]
    forbidden = generate(
        Recorder(logits),
        torch.tensor([[1]]),
        steps=4,
        gen_length=4,
        block_length=4,
        mask_id=MASK,
        logits_eos_inf=True,
        eos_id=EOS,
    )
    assert EOS not in forbidden[0].tolist()


def test_left_padded_batch_equals_single_prompts(llm):
    prompts = [torch.randint(0, 28, (1, n)) for n in (3, 7, 5)]
    width = 7
    batch = torch.full((3, width), EOS)
    mask = torch.zeros(3, width, dtype=torch.long)
    for i, p in enumerate(prompts):
        batch[i, width - p.shape[1] :] = p
        mask[i, width - p.shape[1] :] = 1
    settings = dict(steps=8, gen_length=8, block_length=4, mask_id=MASK)
    together = generate(llm, batch, attention_mask=mask, **settings)
    for i, p in enumerate(prompts):
        assert torch.equal(together[i, width:], generate(llm, p, **settings)[0, p.shape[1] :])


def test_guidance_and_sampling_options(llm):
    prompt = torch.randint(0, 28, (2, 5))
    settings = dict(steps=4, gen_length=8, block_length=8, mask_id=MASK)
    greedy = generate(llm, prompt, **settings)
    assert torch.equal(generate(llm, prompt, **settings), greedy)
    assert torch.equal(generate(llm, prompt, cfg_scale=0.0, **settings), greedy)
    guided = generate(llm, prompt, cfg_scale=2.0, **settings)
    assert guided.shape == greedy.shape
    torch.manual_seed(1)
    sampled = generate(llm, prompt, temperature=1.0, remasking="random", **settings)
    torch.manual_seed(1)
    assert torch.equal(generate(llm, prompt, temperature=1.0, remasking="random", **settings), sampled)


def test_bad_schedules():
    model = Recorder(torch.zeros(1, 20, VOCAB))
    with pytest.raises(ValueError, match="multiple of block_length"):
        generate(model, torch.tensor([[1]]), steps=4, gen_length=6, block_length=4, mask_id=MASK)
    with pytest.raises(ValueError, match="multiple of the number of blocks"):
        generate(model, torch.tensor([[1]]), steps=3, gen_length=8, block_length=4, mask_id=MASK)
    with pytest.raises(ValueError, match="remasking"):
        generate(model, torch.tensor([[1]]), steps=4, gen_length=4, block_length=4, mask_id=MASK, remasking="x")


# ----- fast options -------------------------------------------------------------------------

from speechbrain_diffa.sampling import BlockRunner, factor_counts, threshold_counts  # noqa: E402


def test_commit_rules():
    all_masked = torch.ones(1, 4, dtype=torch.bool)
    assert threshold_counts(torch.tensor([[0.2, 0.3, 0.1, 0.0]]), all_masked, 0.9).tolist() == [1]
    assert threshold_counts(torch.tensor([[0.99, 0.95, 0.1, 0.9]]), all_masked, 0.9).tolist() == [3]
    # factor 1: c(n) >= 1 - 1/(n+1): 2nd >= 0.667, 3rd >= 0.75, 4th >= 0.8
    assert factor_counts(torch.tensor([[0.9, 0.8, 0.78, 0.1]]), all_masked, 1.0).tolist() == [4]  # only last fails
    assert factor_counts(torch.tensor([[0.9, 0.7, 0.76, 0.1]]), all_masked, 1.0).tolist() == [2]
    assert factor_counts(torch.tensor([[0.9, 0.7, 0.5, 0.1]]), all_masked, 1.0).tolist() == [2]
    assert factor_counts(torch.tensor([[0.3, 0.2, 0.1, 0.0]]), all_masked, 1.0).tolist() == [1]
    partly = torch.tensor([[True, False, True, False]])
    assert factor_counts(torch.tensor([[0.9, 0.99, 0.1, 0.99]]), partly, 1.0).tolist() == [2]
    assert factor_counts(torch.tensor([[0.9, 0.9]]), torch.zeros(1, 2, dtype=torch.bool), 1.0).tolist() == [0]


def test_threshold_above_one_is_the_reference_one_token_per_step(llm):
    prompt = torch.randint(0, 28, (2, 6))
    reference = generate(llm, prompt, steps=8, gen_length=8, block_length=4, mask_id=MASK)
    stats = {}
    fast = generate(llm, prompt, steps=8, gen_length=8, block_length=4, mask_id=MASK, threshold=1.1, stats=stats)
    assert torch.equal(fast, reference) and stats["nfe"] == 8


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_block_cache_is_exact_when_the_block_did_not_change(llm, mode):
    """Cached keys are from the block's first pass; with nothing committed since, logits match."""
    x = torch.randint(0, 28, (2, 14))
    x[:, 8:] = MASK
    mask = torch.ones_like(x)
    mask[0, :3] = 0
    wanted = torch.ones(2, 3, dtype=torch.bool)
    wanted[1, 0] = False
    runner = BlockRunner.wrap(llm, x, mask, mode)
    first = runner.block_logits(x, 8, 11, True, wanted)
    again = runner.block_logits(x, 8, 11, False, wanted)
    assert first.shape == (5, VOCAB)
    assert (first - again).abs().max() < 1e-5
    assert runner.cache.get_seq_length() == (8 if mode == "prefix" else 11)
    full = llm(x, attention_mask=mask).logits[:, 8:11][wanted]
    assert (full - first).abs().max() < 1e-5


@pytest.mark.parametrize(
    "options",
    [
        dict(threshold=0.0),
        dict(factor=1.0),
        dict(factor=1.0, cache="prefix"),
        dict(threshold=0.3, cache="dual"),
        dict(cache="dual"),
    ],
)
def test_fast_batch_equals_single_prompts(llm, options):
    prompts = [torch.randint(0, 28, (1, n)) for n in (3, 6)]
    batch = torch.full((2, 6), EOS)
    mask = torch.zeros(2, 6, dtype=torch.long)
    for i, p in enumerate(prompts):
        batch[i, 6 - p.shape[1] :] = p
        mask[i, 6 - p.shape[1] :] = 1
    settings = dict(steps=8, gen_length=8, block_length=4, mask_id=MASK, **options)
    together = generate(llm, batch, attention_mask=mask, **settings)
    for i, p in enumerate(prompts):
        assert torch.equal(together[i, 6:], generate(llm, p, **settings)[0, p.shape[1] :])
    assert not (together[:, 6:] == MASK).any()


def test_eos_early_stop():
    logits = torch.zeros(2, 10, VOCAB)
    logits[:, :, 5] = 2.0
    logits[0, 3, EOS] = 9.0  # row 0: EOS right after the first answer token
    stats = {}
    out = generate(
        Recorder(logits),
        torch.tensor([[1, 2], [1, 2]]),
        steps=8,
        gen_length=8,
        block_length=4,
        mask_id=MASK,
        threshold=0.5,
        eos_early_stop=True,
        eos_id=EOS,
        stats=stats,
    )
    assert out[0].tolist() == [1, 2, 5, EOS] + [EOS] * 6
    assert out[1].tolist() == [1, 2] + [5] * 8
    with pytest.raises(ValueError, match="cache needs"):
        generate(
            Recorder(logits), torch.tensor([[1]]), steps=4, gen_length=4, block_length=4, mask_id=MASK, cache="prefix"
        )
    with pytest.raises(ValueError, match="guidance"):
        generate(
            Recorder(logits),
            torch.tensor([[1]]),
            steps=4,
            gen_length=4,
            block_length=4,
            mask_id=MASK,
            threshold=0.9,
            cfg_scale=1.0,
        )


def test_eos_early_stop_keeps_the_reference_text(llm):
    """With the reference schedule, the EOS stop only skips steps after the text is final.

    Once a block holds EOS with no mask before it, nothing before that EOS can change, and the
    answer text is cut at the first EOS/EoT; so the text equals the reference sampler's. The LM
    head is biased towards EOS so that stops happen, and [MASK] is never proposed (the
    reference's committed-[MASK] quirk is the one case where candidates outside the block matter).
    """

    def bias(module, inputs, output):
        output = output.clone()
        output[..., EOS] += 2.5
        output[..., MASK] = -1e4
        return output

    def text(row):
        row = row.tolist()
        cut = min([row.index(t) for t in (EOS, EOT) if t in row], default=len(row))
        return row[:cut]

    hook = llm.transformer.lm_head.register_forward_hook(bias)
    try:
        saved = 0
        for seed in range(6):
            prompt = torch.randint(0, 25, (3, 5), generator=torch.Generator().manual_seed(seed))
            settings = dict(steps=16, gen_length=16, block_length=4, mask_id=MASK, eos_id=EOS, eot_id=EOT)
            stats = {}
            reference = generate(llm, prompt, **settings)
            stopped = generate(llm, prompt, eos_early_stop=True, stats=stats, **settings)
            assert [text(r) for r in stopped[:, 5:]] == [text(r) for r in reference[:, 5:]]
            saved += 16 - stats["nfe"]
    finally:
        hook.remove()
    assert saved > 0  # the stop did happen


@pytest.mark.parametrize("mode", [None, "prefix", "dual"])
def test_a_later_blocks_first_pass_sees_every_committed_token(llm, mode):
    """Commits of a block's last step enter the next block's first pass (they were once left as [MASK])."""
    x = torch.randint(0, 28, (2, 14))
    x[:, 6:] = MASK
    wanted = torch.ones(2, 4, dtype=torch.bool)
    runner = BlockRunner.wrap(llm, x, None, mode)
    runner.block_logits(x, 6, 10, True, wanted)
    x[:, 6:9] = torch.randint(0, 28, (2, 3))
    runner.block_logits(x, 6, 10, False, x[:, 6:10] == MASK)
    x[:, 9] = 5  # the block's last commit, after its last pass
    later = runner.block_logits(x, 10, 14, True, wanted)
    full = llm(x).logits[:, 10:14][wanted]
    assert (later - full).abs().max() < 1e-5
