"""Semantic and acoustic adapters: DIFFA structure, sizes, bidirectional Q-Former, padding masks."""

import pytest
import torch

from speechbrain_diffa.adapters import AcousticAdapter, SemanticAdapter


def test_param_counts_at_diffa2_sizes():
    """whisper-large-v3 (1280, 20 heads, 8 taps) x LLaDA-8B (4096): 36.39M and 47.89M."""
    with torch.device("meta"):
        semantic = SemanticAdapter(1280, 4096)
        acoustic = AcousticAdapter(1280, num_heads=20, num_taps=8, output_size=4096)
    assert sum(p.numel() for p in semantic.parameters()) == 36_392_448
    assert sum(p.numel() for p in acoustic.parameters()) == 47_892_992  # 47.89M
    with torch.device("meta"):  # DIFFA v1: whisper-small (768, 12 heads, 4 taps)
        small = AcousticAdapter(768, num_heads=12, num_taps=4, output_size=4096)
    assert round(sum(p.numel() for p in small.parameters()) / 1e6, 2) == 22.25


def test_semantic_drops_remainder_frames_and_downsamples():
    adapter = SemanticAdapter(8, 16).eval()
    x = torch.randn(2, 43, 8)
    out, lens = adapter(x, torch.tensor([43, 20]))
    assert out.shape == (2, 10, 16) and lens.tolist() == [10, 5]
    # Trailing T mod 4 frames are dropped before the convolutions.
    assert torch.allclose(adapter(x[:, :40])[0], out)


@pytest.mark.parametrize("length", [16, 17, 18, 19, 20])
def test_semantic_valid_outputs_never_see_padding(length):
    """Output i reads frames up to 4i + 2, so the lengths // 4 valid outputs never see padding."""
    adapter = SemanticAdapter(8, 16).eval()
    x = torch.randn(1, 40, 8)
    noisy = x.clone()
    noisy[:, length:] = torch.randn(1, 40 - length, 8)
    a, lens = adapter(x, torch.tensor([length]))
    b, _ = adapter(noisy, torch.tensor([length]))
    valid = int(lens[0])
    assert torch.allclose(a[:, :valid], b[:, :valid])
    assert not torch.allclose(a[:, valid:], b[:, valid:])


def acoustic_reference(adapter, taps):
    """DIFFA's formulation: one Q-Former call per tap, then the per-query softmax mix."""
    outs = []
    for prompt, state in zip(adapter.layer_prompts, taps):
        query = prompt.expand(state.shape[0], -1, -1)
        outs.append(adapter.qformer(hidden_states=query, encoder_hidden_states=state).last_hidden_state)
    stacked = torch.stack(outs, 0).permute(1, 2, 0, 3)  # (B, Q, taps, D)
    weights = torch.softmax(adapter.layer_weights, -1).unsqueeze(-1)
    return adapter.proj((stacked * weights).sum(2))


def test_acoustic_equals_per_tap_formulation():
    torch.manual_seed(0)
    adapter = AcousticAdapter(16, num_heads=4, num_taps=3, output_size=24, num_queries=6, ffn_size=32).eval()
    with torch.no_grad():
        adapter.layer_weights.normal_()
    taps = [torch.randn(2, 30, 16) for _ in range(3)]
    assert torch.allclose(adapter(taps), acoustic_reference(adapter, taps), atol=1e-5)


def test_qformer_query_self_attention_is_bidirectional():
    """Changing the last query changes the first query's output (no causal mask)."""
    torch.manual_seed(0)
    adapter = AcousticAdapter(16, num_heads=4, num_taps=1, output_size=16, num_queries=5, ffn_size=32).eval()
    state = torch.randn(1, 10, 16)
    before = adapter([state])[0, 0]
    with torch.no_grad():
        adapter.layer_prompts[0][0, -1] += 1.0
    assert (adapter([state])[0, 0] - before).abs().max() > 1e-4


def test_acoustic_mask_padding():
    torch.manual_seed(0)
    adapter = AcousticAdapter(16, 4, 2, 16, num_queries=4, ffn_size=32, mask_padding=True).eval()
    taps = [torch.randn(1, 20, 16) for _ in range(2)]
    noisy = [t.clone() for t in taps]
    for t in noisy:
        t[:, 12:] = torch.randn(1, 8, 16)
    lens = torch.tensor([12])
    assert torch.allclose(adapter(taps, lens), adapter(noisy, lens), atol=1e-6)
    assert not torch.allclose(adapter(taps), adapter(noisy))


def test_wrong_number_of_taps():
    adapter = AcousticAdapter(16, 4, 2, 16, num_queries=4, ffn_size=32)
    with pytest.raises(ValueError, match="expects 2 taps, got 3"):
        adapter([torch.randn(1, 5, 16)] * 3)
