"""The static block cache gives the dynamic cache's answers, token for token; its graphs replay from buffers."""

import pytest
import torch

from speechbrain_diffa import static_cache
from speechbrain_diffa.llada import LLaDA
from speechbrain_diffa.sampling import generate
from speechbrain_diffa.static_cache import StaticBlockRunner

VOCAB, MASK, EOS, EOT = 60, 59, 58, 57


def sure_model(seed, kv_heads=4):
    """A random LLaDA whose logits are far apart (a default init's are nearly uniform: float noise would decide)."""
    torch.manual_seed(seed)
    llm = LLaDA({"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": kv_heads, "mlp_hidden_size": 128,
                 "vocab_size": VOCAB, "mask_token_id": MASK, "eos_token_id": EOS}).eval()  # fmt: skip
    with torch.no_grad():
        llm.transformer.lm_head.weight.mul_(30)
    return llm


OPTIONS = [
    dict(cache="dual"),
    dict(cache="prefix"),
    dict(cache="dual", factor=1.0, eos_early_stop=True),
    dict(cache="dual", threshold=0.3),
    dict(cache="prefix", eos_early_stop=True),
    dict(eos_early_stop=True),
    dict(factor=1.0),
]


@pytest.mark.parametrize("options", OPTIONS)
def test_static_cache_answers_as_the_dynamic_cache(options):
    """Several models (grouped-query attention too), a left-padded batch and three blocks."""
    for seed, kv_heads in ((0, 4), (1, 2), (4, 4)):
        llm = sure_model(seed, kv_heads)
        prompt = torch.randint(0, 50, (3, 9))
        mask = torch.ones_like(prompt)
        mask[0, :3], mask[2, :1] = 0, 0
        settings = dict(steps=24, gen_length=24, block_length=8, mask_id=MASK, eos_id=EOS, eot_id=EOT,
                        attention_mask=mask, **options)  # fmt: skip
        dynamic, static = {}, {}
        expected = generate(llm, prompt, stats=dynamic, **settings)
        assert torch.equal(generate(llm, prompt, static_cache=True, stats=static, **settings), expected)
        assert static == dynamic


def test_static_cache_on_the_audio_path(tmp_path):
    """DIFFA-2 with audio spliced in: the same answers with and without the static cache."""
    from speechbrain_diffa.tiny import make_tiny_diffa2

    torch.manual_seed(0)
    model = make_tiny_diffa2(str(tmp_path)).eval()
    with torch.no_grad():
        model.llm.transformer.lm_head.weight.mul_(30)
    wavs, lens = torch.randn(2, 16000), torch.tensor([1.0, 0.6])
    questions = ["What is heard?", "Who speaks, and how fast?"]
    for options in (dict(cache="dual", factor=0.5, eos_early_stop=True), dict(cache="prefix")):
        settings = dict(gen_length=16, block_length=8, steps=16, **options)
        with torch.no_grad():
            expected = model.answer(wavs, lens, questions, **settings)
            assert model.answer(wavs, lens, questions, static_cache=True, **settings) == expected
            assert len(set(expected)) == 2 and all(expected), expected  # two different, non-empty answers


class ReplayedOnCPU(StaticBlockRunner):
    """Graph semantics without a GPU: each pass is 'captured' once and every later call re-runs that first
    capture, which reads only the runner's buffers, as a replayed CUDA graph does."""

    captures = 0

    @staticmethod
    def check_device(device):
        pass

    def _capture(self, run_pass):
        ReplayedOnCPU.captures += 1
        return run_pass


def test_captured_passes_replay_from_their_buffers(monkeypatch):
    """Across blocks and across requests of the same shapes, the passes captured first give the same answers."""
    monkeypatch.setattr(static_cache, "StaticBlockRunner", ReplayedOnCPU)
    llm = sure_model(2)
    settings = dict(steps=24, gen_length=24, block_length=8, mask_id=MASK, eos_id=EOS, eot_id=EOT)
    for options in (dict(cache="dual", factor=1.0), dict(cache="prefix"), dict(eos_early_stop=True)):
        for _request in range(3):
            prompt = torch.randint(0, 50, (2, 9))
            expected = generate(llm, prompt, **settings, **options)
            assert torch.equal(generate(llm, prompt, static_cache=True, cuda_graphs=True, **settings, **options),
                               expected)  # fmt: skip
    # dual: one capture of the full pass and one of the block pass, for all requests; prefix: one per block;
    # no cache: the full pass only
    assert ReplayedOnCPU.captures == 2 + (1 + 3) + 1
    assert len(llm._captured_decoding) == 3


def test_static_cache_errors():
    llm = sure_model(0)
    prompt = torch.randint(0, 50, (1, 5))
    with pytest.raises(ValueError, match="cache must be None, 'prefix' or 'dual'"):
        generate(llm, prompt, steps=8, gen_length=8, block_length=8, mask_id=MASK, cache="full", static_cache=True)
    with pytest.raises(ValueError, match="static_cache=True too"):
        generate(llm, prompt, steps=8, gen_length=8, block_length=8, mask_id=MASK, cache="dual", cuda_graphs=True)
    with pytest.raises(ValueError, match="CUDA device; this one is on cpu"):
        generate(llm, prompt, steps=8, gen_length=8, block_length=8, mask_id=MASK, cache="dual", static_cache=True,
                 cuda_graphs=True)  # fmt: skip
