"""Released adapter weights: strict loading under release names, round trip, safe reading."""

import pytest
import torch
from safetensors.torch import save_file

from speechbrain_diffa.adapters import AcousticAdapter, SemanticAdapter
from speechbrain_diffa.hub.release_weights import load_released_adapters, released_adapter_state
from speechbrain_diffa.hub.weight_files import read_state_dict


def make():
    return (
        SemanticAdapter(16, 24).eval(),
        AcousticAdapter(16, 4, 2, 24, num_queries=4, ffn_size=32).eval(),
        torch.nn.Embedding(20, 24),
    )


def test_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    sem, aco, prompts = make()
    with torch.no_grad():
        aco.layer_weights.normal_()
    release = released_adapter_state(sem, aco, prompts)
    release["whisper_model.conv1.weight"] = torch.zeros(1)  # frozen parts travel in the release too
    path = str(tmp_path / "release.safetensors")
    save_file({k: v.contiguous() for k, v in release.items()}, path)
    torch.manual_seed(1)
    sem2, aco2, prompts2 = make()
    report = load_released_adapters(sem2, aco2, path, prompts=prompts2)
    assert report == {"semantic": 10, "acoustic": 59, "prompts": 1, "left_to_other_loaders": 1}
    x = torch.randn(2, 40, 16)
    taps = [torch.randn(2, 30, 16) for _ in range(2)]
    assert torch.equal(sem2(x)[0], sem(x)[0])
    assert torch.equal(aco2(taps), aco(taps))
    assert torch.equal(prompts2.weight, prompts.weight)


def test_unexpected_and_wrong_shape_keys_are_named():
    sem, aco, _ = make()
    release = released_adapter_state(sem, aco)
    release["acoustic_connector.qformer.layer.2.output.dense.weight"] = torch.zeros(1)
    with pytest.raises(KeyError, match="unexpected: \\['acoustic_connector.qformer.layer.2"):
        load_released_adapters(sem, aco, release)
    release = released_adapter_state(sem, aco)
    release["semantic_connector.layernorm.weight"] = torch.zeros(5)
    with pytest.raises(ValueError, match="layernorm.weight has shape \\(5,\\)"):
        load_released_adapters(sem, aco, release)


def test_reads_only_weights(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("code ran",))

    path = str(tmp_path / "evil.bin")
    torch.save({"x": Payload()}, path)
    with pytest.raises(ValueError, match=r"evil.bin holds Python objects besides tensors \(print\): refused") as caught:
        read_state_dict(path)
    assert "weights_only" not in str(caught.value)
    with pytest.raises(FileNotFoundError, match="not found"):
        read_state_dict(str(tmp_path / "missing.bin"))
