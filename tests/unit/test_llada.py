"""LLaDA backbone: release loading, exact maths, bidirectionality, padding, cache hooks, errors."""

import json
import math
import os
import shutil

import pytest
import torch
from safetensors.torch import load_file

from speechbrain_diffa.llada import LLaDA, lora_target_names


def reference_llada_logits(weights, config, ids):
    """LLaDA's forward written out from the release weight names (RMSNorm, RoPE, SwiGLU, no mask).

    An independent re-statement of the architecture, to check that our Llama mapping computes it.
    """
    d, heads = config["d_model"], config["n_heads"]
    head_dim = d // heads
    eps, theta = config["rms_norm_eps"], config["rope_theta"]

    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    def rope(x):  # (B, H, T, hd), rotate-half convention
        t = x.shape[2]
        inv = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        ang = torch.outer(torch.arange(t, dtype=torch.float32), inv)
        cos, sin = torch.cat([ang, ang], -1).cos(), torch.cat([ang, ang], -1).sin()
        x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2 :]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    w = lambda name: weights[f"model.transformer.{name}"]
    x = w("wte.weight")[ids]
    b, t, _ = x.shape
    for i in range(config["n_layers"]):
        blk = lambda n, i=i: w(f"blocks.{i}.{n}.weight")
        h = rms(x, blk("attn_norm"))
        q, k, v = ((h @ blk(n).T).view(b, t, heads, head_dim).transpose(1, 2) for n in ("q_proj", "k_proj", "v_proj"))
        q, k = rope(q), rope(k)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim), -1)  # no causal mask
        x = x + (att @ v).transpose(1, 2).reshape(b, t, d) @ blk("attn_out").T
        h = rms(x, blk("ff_norm"))
        x = x + (torch.nn.functional.silu(h @ blk("ff_proj").T) * (h @ blk("up_proj").T)) @ blk("ff_out").T
    return rms(x, w("ln_f.weight")) @ w("ff_out.weight").T


def release_weights(path):
    weights = {}
    for f in os.listdir(path):
        if f.endswith(".safetensors"):
            weights.update(load_file(os.path.join(path, f)))
    return weights


@pytest.fixture(scope="module")
def llm(tiny_llada_path):
    return LLaDA.from_pretrained(tiny_llada_path).eval()


def test_logits_equal_llada_maths(tiny_llada_path, llm):
    config = json.load(open(os.path.join(tiny_llada_path, "config.json")))
    ids = torch.randint(0, config["vocab_size"], (2, 11))
    expected = reference_llada_logits(release_weights(tiny_llada_path), config, ids)
    got = llm(ids).logits
    assert got.shape == (2, 11, config["embedding_size"])
    assert (got - expected).abs().max() < 1e-4


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_attention_is_bidirectional(tiny_llada_path, attn):
    llm = LLaDA.from_pretrained(tiny_llada_path, attn_implementation=attn).eval()
    ids = torch.randint(0, 300, (1, 8))
    changed = ids.clone()
    changed[0, -1] = (changed[0, -1] + 1) % 300
    first = llm(ids).logits[0, 0]
    assert (llm(changed).logits[0, 0] - first).abs().max() > 1e-4


def test_padding_left_and_right_equal_unpadded(llm):
    ids = torch.randint(0, 300, (2, 9))
    ref = llm(ids).logits
    pad = torch.zeros(2, 3, dtype=torch.long)
    right = llm(torch.cat([ids, pad], 1), attention_mask=torch.cat([torch.ones_like(ids), pad], 1)).logits
    left = llm(torch.cat([pad, ids], 1), attention_mask=torch.cat([pad, torch.ones_like(ids)], 1)).logits
    assert (right[:, :9] - ref).abs().max() < 1e-5
    assert (left[:, 3:] - ref).abs().max() < 1e-5
    # All-ones mask is the same as no mask.
    assert (llm(ids, attention_mask=torch.ones_like(ids)).logits - ref).abs().max() < 1e-6


def test_inputs_embeds_and_partial_lm_head(llm):
    ids = torch.randint(0, 300, (2, 7))
    full = llm(ids).logits
    assert torch.allclose(llm(inputs_embeds=llm.embed(ids)).logits, full, atol=1e-6)
    index = torch.tensor([[6, 0], [3, 4]])
    picked = llm(ids, logits_index=index).logits
    assert torch.allclose(picked, full.gather(1, index[..., None].expand(-1, -1, full.shape[-1])), atol=1e-6)
    where = torch.zeros(2, 7, dtype=torch.bool)
    where[0, 2] = where[1, 5] = where[1, 6] = True
    assert torch.allclose(llm(ids, logits_mask=where).logits, full[where], atol=1e-6)
    with pytest.raises(ValueError, match="exactly one"):
        llm()


def test_kv_cache_hooks_reproduce_full_pass(llm):
    """A cache from a full pass, cropped to a prefix, continues to the same logits."""
    ids = torch.randint(0, 300, (2, 12))
    full = llm(ids, use_cache=True)
    cache = full.cache
    assert cache.get_seq_length() == 12
    cache.crop(-5)
    rest = llm(ids[:, 7:], cache=cache).logits
    assert (rest - full.logits[:, 7:]).abs().max() < 1e-5


def test_save_load_roundtrip_single_and_sharded(tmp_path, llm):
    llm.save_pretrained(str(tmp_path / "single"))
    assert os.path.isfile(tmp_path / "single" / "model.safetensors")
    llm.save_pretrained(str(tmp_path / "sharded"), max_shard_bytes=50_000)
    index = json.load(open(tmp_path / "sharded" / "model.safetensors.index.json"))
    assert len(set(index["weight_map"].values())) > 1
    ids = torch.randint(0, 300, (1, 6))
    for folder in ("single", "sharded"):
        again = LLaDA.from_pretrained(str(tmp_path / folder)).eval()
        assert torch.equal(again(ids).logits, llm(ids).logits)


def test_bf16_load(tiny_llada_path):
    llm = LLaDA.from_pretrained(tiny_llada_path, dtype=torch.bfloat16).eval()
    assert llm.dtype == torch.bfloat16
    logits = llm(torch.randint(0, 300, (1, 5))).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_gradient_checkpointing_same_gradients(tiny_llada_path):
    grads = []
    for checkpointing in (False, True):
        llm = LLaDA.from_pretrained(tiny_llada_path).train()
        llm.requires_grad_(False)
        if checkpointing:
            llm.gradient_checkpointing_enable()
        embeds = llm.embed(torch.arange(8)[None]).detach().requires_grad_(True)
        llm(inputs_embeds=embeds).logits.square().mean().backward()
        grads.append(embeds.grad)
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_param_count_at_8b_shapes():
    config = {
        "d_model": 4096,
        "n_layers": 32,
        "n_heads": 32,
        "n_kv_heads": 32,
        "mlp_hidden_size": 12288,
        "vocab_size": 126464,
        "embedding_size": 126464,
        "rope_theta": 500000.0,
    }
    with torch.device("meta"):
        llm = LLaDA(config)
    total = sum(p.numel() for p in llm.parameters())
    assert round(total / 1e9, 2) == 8.02  # the release's "8.02B params"


def test_lora_targets_on_release_names(llm):
    from peft import LoraConfig, get_peft_model

    targets = lora_target_names(["q_proj", "k_proj", "v_proj", "ff_proj", "up_proj"])
    peft_model = get_peft_model(llm.llm, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=targets))
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    d, mlp, layers = 64, 192, 2
    assert trainable == layers * 8 * (3 * (d + d) + 2 * (d + mlp))
    with pytest.raises(ValueError, match="Unknown LLaDA module"):
        lora_target_names(["o_proj"])


def test_missing_shard_is_named(tmp_path, tiny_llada_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_llada_path, broken)
    os.remove(broken / "model-00002-of-00008.safetensors")
    with pytest.raises(FileNotFoundError, match="model-00002-of-00008.safetensors"):
        LLaDA.from_pretrained(str(broken))


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.pop("d_model"), "missing required key"),
        (lambda c: c.update(alibi=True), "'alibi' = True is not supported"),
        (lambda c: c.update(n_layers=3), "missing"),
        (lambda c: c.update(d_model=128), "has shape"),
        (lambda c: c.update(mask_token_id=10**6), "outside the vocabulary"),
    ],
)
def test_wrong_config_gives_clear_error(tmp_path, tiny_llada_path, edit, message):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_llada_path, broken)
    config = json.load(open(broken / "config.json"))
    edit(config)
    json.dump(config, open(broken / "config.json", "w"))
    with pytest.raises(ValueError, match=message):
        LLaDA.from_pretrained(str(broken))


def test_missing_folder_and_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="No LLaDA config.json"):
        LLaDA.from_pretrained(str(tmp_path))
    json.dump(
        {"d_model": 8, "n_layers": 1, "n_heads": 2, "vocab_size": 10, "mask_token_id": 9, "eos_token_id": 8},
        open(tmp_path / "config.json", "w"),
    )
    with pytest.raises(FileNotFoundError, match="No LLaDA weights"):
        LLaDA.from_pretrained(str(tmp_path))
