"""Stage-4 model: the shared-base reference equals a full frozen copy, and only the policy trains."""

import pytest
import torch

from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
from speechbrain_diffa.diffusion import item_generators, vrpo_loss
from speechbrain_diffa.preference import PreferenceModel


def stage3_like(tiny_root):
    """A tiny stage-4 policy whose LoRA and adapters are not at their initial values."""
    model = make_tiny_diffa2(tiny_root, stage=4, seed=3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.add_(0.05 * torch.randn(param.shape, generator=torch.Generator().manual_seed(len(name))))
    return model


def batch(chat):
    good = [chat.training_example("How many beeps?", a) for a in ("two", "three beeps")]
    bad = [chat.training_example("How many beeps?", a) for a in ("four", "one beep")]
    chosen, plen, at = chat.collate_training(good)
    rejected, _, _ = chat.collate_training(bad)
    wavs = torch.randn(2, 12000, generator=torch.Generator().manual_seed(0)) * 0.1
    return wavs, torch.tensor([1.0, 0.7]), chosen, rejected, plen, at


def loss_and_grads(preference, inputs):
    preference.train()
    preference.zero_grad()
    elbos = preference(*inputs, generator=item_generators(0, ["a", "b"]))
    loss, margin = vrpo_loss(
        elbos["policy_chosen"], elbos["reference_chosen"], elbos["policy_rejected"], elbos["reference_rejected"]
    )
    loss.backward()
    grads = {n: p.grad.clone() for n, p in preference.policy.named_parameters() if p.grad is not None}
    return loss.detach(), margin, elbos, grads


@pytest.fixture(scope="module")
def pair(tiny_root):
    """The same stage-3 weights, as a shared-base and as a two-copies preference model."""
    shared = PreferenceModel(stage3_like(tiny_root), shared_base=True, num_samples=2)
    copies = PreferenceModel(stage3_like(tiny_root), shared_base=False, num_samples=2)
    for model in (shared, copies):
        for module in model.modules():  # dropout off so the two forms can be compared exactly
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        model.freeze_reference()
    return shared, copies


def test_shared_base_reference_equals_a_frozen_copy(pair):
    shared, copies = pair
    inputs = batch(shared.policy.chat)
    loss_s, margin_s, elbos_s, grads_s = loss_and_grads(shared, inputs)
    loss_c, margin_c, elbos_c, grads_c = loss_and_grads(copies, inputs)
    for key in elbos_s:
        torch.testing.assert_close(elbos_s[key], elbos_c[key], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss_s, loss_c)
    assert set(grads_s) == set(grads_c) and grads_s
    for name in grads_s:
        torch.testing.assert_close(grads_s[name], grads_c[name], rtol=1e-4, atol=1e-6, msg=name)
    # Before any update the policy is its own reference: margins are zero.
    torch.testing.assert_close(margin_s, torch.zeros(2), atol=1e-5, rtol=0)


def test_only_the_policy_trains(pair):
    shared, _ = pair
    trainable = [n for n, p in shared.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith("policy.") for n in trainable)
    assert not any(".reference." in n for n in trainable)
    assert any("lora_A.default" in n for n in trainable)
    # The checkpoint holds the policy's trainables only: no reference copy.
    assert not any("reference" in n for n in shared.policy.trainable_state_dict())


def test_reference_stays_fixed_after_a_policy_step(tiny_root):
    model = PreferenceModel(stage3_like(tiny_root), shared_base=True, num_samples=1)
    model.freeze_reference()
    inputs = batch(model.policy.chat)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    before = loss_and_grads(model, inputs)[2]
    optimizer.step()
    after = loss_and_grads(model, inputs)[2]
    torch.testing.assert_close(before["reference_chosen"], after["reference_chosen"])
    assert not torch.allclose(before["policy_chosen"], after["policy_chosen"])
