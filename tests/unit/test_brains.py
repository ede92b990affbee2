"""The Brains keep NaN and Inf out of the weights: bad steps are skipped and named, broken weights never saved."""

import os

import pytest
import torch

from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
from speechbrain_diffa.training.brains import DIFFA2Brain, NonFiniteTraining


@pytest.fixture
def brain(tiny_root):
    model = make_tiny_diffa2(tiny_root, stage=2)
    brain = DIFFA2Brain(
        modules={"diffa": model},
        hparams={"seed": 0, "opt_class": lambda params: torch.optim.SGD(params, lr=0.1)},
        run_opts={"device": "cpu", "nonfinite_patience": 1},
    )
    brain.init_optimizers()
    return brain


def trained(brain):
    return {n: p.detach().clone() for n, p in brain.diffa_model.named_parameters() if p.requires_grad}


def set_grads(brain, value):
    for p in brain.modules.parameters():
        if p.requires_grad:
            p.grad = torch.full_like(p, value)


def test_a_step_with_non_finite_gradients_is_skipped_and_named(brain, caplog):
    before = trained(brain)
    brain.step_items = ["clip-7"]
    set_grads(brain, float("nan"))
    brain.optimizers_step()
    assert all(torch.equal(before[n], p) for n, p in trained(brain).items())
    assert brain.skipped_steps == 1 and "clip-7" in caplog.text
    set_grads(brain, 0.5)  # a good step still trains
    brain.step_items = ["clip-8"]
    brain.optimizers_step()
    assert all(not torch.equal(before[n], p) for n, p in trained(brain).items())


def test_training_stops_past_the_patience_naming_the_items(brain):
    for step in range(2):
        brain.step_items = [f"bad-{step}"]
        set_grads(brain, float("inf"))
        if step == 0:
            brain.optimizers_step()
    with pytest.raises(NonFiniteTraining, match=r"2 optimizer steps had NaN or Inf gradients.*bad-1"):
        brain.optimizers_step()


def test_non_finite_weights_are_never_saved(brain, tmp_path):
    path = str(tmp_path / "diffa2_trained.ckpt")
    brain.save_trained(path)
    assert os.path.isfile(path)
    os.remove(path)
    with torch.no_grad():
        next(p for p in brain.modules.parameters() if p.requires_grad).fill_(float("nan"))
    with pytest.raises(NonFiniteTraining, match="trained tensors hold NaN or Inf"):
        brain.save_trained(path)
    assert not os.path.exists(path)


def test_a_batch_left_empty_by_skip_bad_is_skipped_without_touching_the_average(brain):
    """Every item of a batch unreadable (collated to None): no step, and the epoch's mean loss is the others'."""
    before = trained(brain)
    brain.step, brain.avg_train_loss = 2, 0.5
    loss = brain.fit_batch(None)
    assert loss is None and brain.update_average(loss, brain.avg_train_loss) == 0.5
    assert brain.step == 1  # SpeechBrain counted the batch before fitting it; the mean over the rest is unchanged
    assert all(torch.equal(before[n], p) for n, p in trained(brain).items())
    assert brain.evaluate_batch(None, stage=None) is None
