"""A model folder is a boundary: checkpoints inside it, base models by clear rules, all or nothing.

Through ``DIFFA2.from_hparams`` (what ``diffa2 answer --model`` and the benchmark runner call). Hub
downloads are exercised offline: ``huggingface_hub.snapshot_download`` is replaced by a copy from a
local "hub" folder that filters files with huggingface_hub's own ``allow_patterns`` matcher.
"""

import http.server
import os
import shutil
import threading

import huggingface_hub
import pytest
import torch
from huggingface_hub.utils import filter_repo_objects

from speechbrain_diffa.hub.export import write_tiny_model_folder
from speechbrain_diffa.hub.model_folder import BASE_MODEL_FILES, ModelFolderError
from speechbrain_diffa.hub.weight_files import CheckpointError
from speechbrain_diffa.inference import DIFFA2

SHORT = {"steps": 2, "gen_length": 2, "block_length": 2}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_root):
    """A tiny stage-3 model folder that loads, with its base models outside it (absolute paths)."""
    return write_tiny_model_folder(str(tmp_path_factory.mktemp("good")), tiny_root=tiny_root)


def copy_of(folder, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


def set_yaml(path, old, new):
    """Replace ``old`` (which must be there) by ``new`` in the folder's hyperparams.yaml."""
    yaml_path = path / "hyperparams.yaml"
    text = yaml_path.read_text()
    assert old in text
    yaml_path.write_text(text.replace(old, new))


PRETRAINER = (
    "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n    loadables:\n        diffa2: !ref <diffa>\n"
)


def with_pretrainer(path, body):
    """Replace the folder's Pretrainer block by ``body`` (indented under ``pretrainer:``)."""
    set_yaml(path, PRETRAINER, "pretrainer: !new:speechbrain.utils.parameter_transfer.Pretrainer\n" + body)


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_GET(self):  # http.server's name
        self.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"x")

    def log_message(self, *args):
        pass


def test_a_url_in_pretrainer_paths_is_never_fetched(folder, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/diffa2.ckpt"
        bad = copy_of(folder, tmp_path)
        with_pretrainer(bad, f"    loadables:\n        diffa2: !ref <diffa>\n    paths:\n        diffa2: {url}\n")
        with pytest.raises(ModelFolderError, match="is a URL"):
            DIFFA2.from_hparams(source=str(bad))
    finally:
        server.shutdown()
    assert _Recorder.requests == []


def test_an_absolute_checkpoint_path_is_refused_and_nothing_is_linked(folder, tmp_path):
    bad = copy_of(folder, tmp_path)
    before = sorted(os.listdir(bad))
    with_pretrainer(bad, "    loadables:\n        diffa2: !ref <diffa>\n    paths:\n        diffa2: /etc/hostname\n")
    with pytest.raises(ModelFolderError, match="must be a relative path inside the folder"):
        DIFFA2.from_hparams(source=str(bad))
    assert sorted(os.listdir(bad)) == before


def test_a_loadable_key_that_is_a_path_is_refused_and_nothing_is_created(folder, tmp_path):
    bad = copy_of(folder, tmp_path / "deep" / "er")
    with_pretrainer(bad, "    loadables:\n        ../../victim/x: !ref <diffa>\n")
    with pytest.raises(ModelFolderError, match="must be a plain name"):
        DIFFA2.from_hparams(source=str(bad))
    assert not (tmp_path / "victim").exists() and not (tmp_path / "deep" / "victim").exists()


def test_a_checkpoint_that_links_out_of_the_folder_is_refused(folder, tmp_path):
    bad = copy_of(folder, tmp_path)
    outside = tmp_path / "elsewhere.ckpt"
    shutil.move(bad / "diffa2.ckpt", outside)
    os.symlink(outside, bad / "diffa2.ckpt")
    with pytest.raises(ModelFolderError, match="leads out of the folder"):
        DIFFA2.from_hparams(source=str(bad))


def test_the_pretrainer_may_load_only_the_model(folder, tmp_path):
    bad = copy_of(folder, tmp_path)
    with_pretrainer(bad, "    loadables:\n        diffa2: !ref <semantic_adapter>\n")
    with pytest.raises(ModelFolderError, match="must be modules.diffa"):
        DIFFA2.from_hparams(source=str(bad))


def test_any_key_loads_when_its_file_covers_the_model(folder, tmp_path):
    """The rule is about the tensors, not the key's name: a complete file under another key loads."""
    renamed = copy_of(folder, tmp_path)
    os.rename(renamed / "diffa2.ckpt", renamed / "weights.ckpt")
    with_pretrainer(renamed, "    loadables:\n        weights: !ref <diffa>\n")
    model = DIFFA2.from_hparams(source=str(renamed))
    state = torch.load(renamed / "weights.ckpt", weights_only=True)
    loaded = dict(model.model.named_parameters())
    assert all(torch.equal(loaded[name], value) for name, value in state.items())


def test_a_partial_checkpoint_under_another_key_is_refused(folder, tmp_path):
    """The earlier check looked at the key 'diffa2' only: 3 of 90 tensors loaded, 87 stayed random."""
    partial = copy_of(folder, tmp_path)
    state = torch.load(partial / "diffa2.ckpt", weights_only=True)
    kept = dict(list(state.items())[:3])
    torch.save(kept, partial / "weights.ckpt")
    with_pretrainer(partial, "    loadables:\n        weights: !ref <diffa>\n")
    with pytest.raises(ValueError, match=f"lacks {len(state) - 3} tensors that a stage-3 model needs"):
        DIFFA2.from_hparams(source=str(partial))


def test_non_finite_trained_weights_are_refused(folder, tmp_path):
    broken = copy_of(folder, tmp_path)
    state = torch.load(broken / "diffa2.ckpt", weights_only=True)
    name = min(state)
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, broken / "diffa2.ckpt")
    with pytest.raises(ValueError, match=f"1 tensors hold NaN or Inf values: \\['{name}'\\]"):
        DIFFA2.from_hparams(source=str(broken))


class _Code:
    def __reduce__(self):
        return (os.system, ("touch was_run",))


@pytest.mark.parametrize("damage", ["truncated", "text", "pickled_code", "nested"])
def test_a_damaged_checkpoint_gives_one_message_naming_it(damage, folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = copy_of(folder, tmp_path)
    path = bad / "diffa2.ckpt"
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "text":
        path.write_text("weights")
    elif damage == "pickled_code":
        torch.save({"semantic_adapter.conv.0.bias": _Code()}, path)
    else:
        torch.save({"semantic_adapter": {"conv": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError) as caught:
        DIFFA2.from_hparams(source=str(bad))
    message = str(caught.value)
    assert str(path) in message and "weights_only" not in message and "\n" not in message
    assert not (tmp_path / "was_run").exists()


def test_a_damaged_base_model_shard_is_named(folder, tmp_path, tiny_root):
    llada = tmp_path / "llada"
    shutil.copytree(os.path.join(tiny_root, "llada"), llada)
    shard = min(p for p in os.listdir(llada) if p.endswith(".safetensors"))
    (llada / shard).write_bytes((llada / shard).read_bytes()[:200])
    with pytest.raises(CheckpointError, match=f"{llada / shard} is not a readable safetensors file"):
        DIFFA2.from_hparams(source=folder, overrides={"llm_path": str(llada)})


# ---------------------------------------------------------------- base models


def folder_with_base_models_inside(folder, tmp_path, tiny_root):
    """A model folder that ships its base models under tiny/ and names them relatively."""
    inside = copy_of(folder, tmp_path, "shipped")
    shutil.copytree(tiny_root, inside / "tiny")
    set_yaml(inside, f'whisper_path: "{tiny_root}/whisper"', 'whisper_path: "tiny/whisper"')
    set_yaml(inside, f'llm_path: "{tiny_root}/llada"', 'llm_path: "tiny/llada"')
    return inside


def test_relative_base_models_are_read_inside_the_folder_whatever_the_working_folder(
    folder, tmp_path, tiny_root, monkeypatch
):
    inside = folder_with_base_models_inside(folder, tmp_path, tiny_root)
    elsewhere = tmp_path / "cwd"
    (elsewhere / "tiny" / "whisper").mkdir(parents=True)  # a decoy where the old rule looked
    monkeypatch.chdir(elsewhere)
    model = DIFFA2.from_hparams(source=str(inside))
    assert model.hparams.whisper_path == str(inside / "tiny" / "whisper")
    assert model.hparams.llm_path == str(inside / "tiny" / "llada")


def no_download(**kwargs):
    raise AssertionError(f"a download was attempted: {kwargs}")


def test_a_missing_relative_base_model_is_an_error_not_a_download(folder, tmp_path, tiny_root, monkeypatch):
    """``tiny/whisper`` used to become a hub download of the public repo tiny/whisper."""
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    missing = folder_with_base_models_inside(folder, tmp_path, tiny_root)
    shutil.rmtree(missing / "tiny" / "whisper")
    with pytest.raises(FileNotFoundError, match="whisper_path 'tiny/whisper' is not a folder inside the model folder"):
        DIFFA2.from_hparams(source=str(missing))


@pytest.mark.parametrize("value", ["openai/whisper-large-v3", "../outside/whisper"])
def test_a_bare_repo_id_or_a_path_out_of_the_folder_is_refused(value, folder, tmp_path, tiny_root, monkeypatch):
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_download)
    os.makedirs(tmp_path / "outside" / "whisper")
    bad = copy_of(folder, tmp_path)
    set_yaml(bad, f'whisper_path: "{tiny_root}/whisper"', f'whisper_path: "{value}"')
    with pytest.raises(FileNotFoundError, match="hf://owner/name"):
        DIFFA2.from_hparams(source=str(bad))


def test_base_models_you_pass_win_and_may_be_relative_to_you(folder, tmp_path, tiny_root, monkeypatch):
    monkeypatch.chdir(tiny_root)
    model = DIFFA2.from_hparams(source=folder, overrides={"whisper_path": "whisper"})
    assert model.hparams.whisper_path == os.path.join(tiny_root, "whisper")


class FakeHub:
    """``snapshot_download`` from local folders ``root/owner/name``, recording what was fetched."""

    def __init__(self, root):
        self.root, self.fetched = root, []

    def __call__(self, repo_id, allow_patterns=None, local_dir=None, **kwargs):
        source = os.path.join(self.root, repo_id)
        target = local_dir or os.path.join(self.root, "_cache", repo_id.replace("/", "--"))
        names = [os.path.relpath(os.path.join(d, f), source) for d, _, fs in os.walk(source) for f in fs]
        for name in filter_repo_objects(names, allow_patterns=allow_patterns):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy(os.path.join(source, name), os.path.join(target, name))
            self.fetched.append((repo_id, name))
        return target


@pytest.fixture
def hub(tmp_path, monkeypatch):
    fake = FakeHub(str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    return fake


def test_a_hub_model_folder_fetches_only_what_is_read(folder, tmp_path, tiny_root, hub, monkeypatch):
    repo = folder_with_base_models_inside(folder, tmp_path, tiny_root)
    shutil.copytree(repo, tmp_path / "hub" / "someone" / "diffa2-tiny")
    (tmp_path / "hub" / "someone" / "diffa2-tiny" / "evil.py").write_text("import os\n")
    (tmp_path / "hub" / "someone" / "diffa2-tiny" / "huge.bin").write_bytes(b"0" * 1000)
    monkeypatch.chdir(tmp_path)
    model = DIFFA2.from_hparams(source="someone/diffa2-tiny")
    fetched = {name for _, name in hub.fetched}
    assert {"hyperparams.yaml", "diffa2.ckpt", "tiny/whisper/config.json", "tiny/llada/config.json"} <= fetched
    assert not fetched & {"evil.py", "huge.bin", "example.wav", "README.md"}
    assert model.description["source"] == "someone/diffa2-tiny"
    assert os.path.isdir(tmp_path / "pretrained_models" / "someone--diffa2-tiny")
    assert model.answer_file(os.path.join(folder, "example.wav"), "Which?", **SHORT) == DIFFA2.from_hparams(
        source=folder
    ).answer_file(os.path.join(folder, "example.wav"), "Which?", **SHORT)


def test_an_hf_base_model_downloads_only_model_files(folder, tmp_path, tiny_root, hub):
    shutil.copytree(os.path.join(tiny_root, "whisper"), tmp_path / "hub" / "openai" / "whisper-tiny")
    (tmp_path / "hub" / "openai" / "whisper-tiny" / "flax_model.msgpack").write_bytes(b"0")
    uses_hub = copy_of(folder, tmp_path)
    set_yaml(uses_hub, f'whisper_path: "{tiny_root}/whisper"', 'whisper_path: "hf://openai/whisper-tiny"')
    DIFFA2.from_hparams(source=str(uses_hub))
    fetched = {name for repo, name in hub.fetched if repo == "openai/whisper-tiny"}
    assert "config.json" in fetched and "flax_model.msgpack" not in fetched
    assert fetched == set(filter_repo_objects(fetched, allow_patterns=list(BASE_MODEL_FILES)))


def test_trust_hparams_lifts_the_callable_list_but_not_the_folder_rules(folder, tmp_path):
    own = copy_of(folder, tmp_path)
    (own / "hyperparams.yaml").write_text(
        (own / "hyperparams.yaml").read_text() + "\njoined: !apply:os.path.join [a, b]\n"
    )
    with pytest.raises(PermissionError, match="!apply:os.path.join is not allowed"):
        DIFFA2.from_hparams(source=str(own))
    assert DIFFA2.from_hparams(source=str(own), trust_hparams=True).hparams.joined == os.path.join("a", "b")
    with_pretrainer(own, "    loadables:\n        diffa2: !ref <diffa>\n    paths:\n        diffa2: /etc/hostname\n")
    with pytest.raises(ModelFolderError, match="must be a relative path inside the folder"):
        DIFFA2.from_hparams(source=str(own), trust_hparams=True)


# ---------------------------------------------------------------- found by review (red team)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda v: torch.full(v.shape, complex(float("nan"), 0.0)), "is torch.complex64, not a real floating-point"),
        (lambda v: torch.full(v.shape, 1e300, dtype=torch.float64), "hold NaN or Inf values"),
        (lambda v: torch.zeros(v.shape, dtype=torch.int64), "not a real floating-point"),
    ],
)
def test_tensors_that_would_turn_non_finite_are_refused(make, match, folder, tmp_path):
    bad = copy_of(folder, tmp_path)
    state = torch.load(bad / "diffa2.ckpt", weights_only=True)
    state["semantic_adapter.conv.0.weight"] = make(state["semantic_adapter.conv.0.weight"])
    torch.save(state, bad / "diffa2.ckpt")
    with pytest.raises(ValueError, match=match):
        DIFFA2.from_hparams(source=str(bad))


def test_a_checkpoint_may_not_replace_base_weights(folder, tmp_path):
    bad = copy_of(folder, tmp_path)
    model = DIFFA2.from_hparams(source=folder).model
    state = torch.load(bad / "diffa2.ckpt", weights_only=True)
    base = [n for n, _ in model.named_parameters() if n.startswith(("encoder.", "llm.")) and "lora_" not in n][:2]
    state.update({n: torch.zeros_like(dict(model.named_parameters())[n]) for n in base})
    torch.save(state, bad / "diffa2.ckpt")
    with pytest.raises(ValueError, match="never base weights"):
        DIFFA2.from_hparams(source=str(bad))


def test_a_base_model_given_by_reference_is_refused(folder, tmp_path, tiny_root, monkeypatch):
    """A !ref value would skip the folder rules and be read relative to the working folder."""
    bad = copy_of(folder, tmp_path)
    set_yaml(bad, f'llm_path: "{tiny_root}/llada"', '__p: "user_llada"\nllm_path: !ref <__p>')
    shutil.copytree(os.path.join(tiny_root, "llada"), tmp_path / "user_llada")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelFolderError, match="llm_path must be a plain string"):
        DIFFA2.from_hparams(source=str(bad))


@pytest.mark.parametrize("option", ["compile: true", "device: cuda:7", "jit: true"])
def test_a_folder_may_not_set_run_options(option, folder, tmp_path):
    bad = copy_of(folder, tmp_path)
    (bad / "hyperparams.yaml").write_text((bad / "hyperparams.yaml").read_text() + f"\n{option}\n")
    with pytest.raises(ModelFolderError, match="is a run option"):
        DIFFA2.from_hparams(source=str(bad))


def test_a_checkpoint_that_unpacks_to_far_more_than_the_model_is_refused(folder, tmp_path):
    """A small deflated zip can hold gigabytes; its listed sizes are checked before anything is unpacked."""
    import zipfile

    bad = copy_of(folder, tmp_path)
    path = bad / "diffa2.ckpt"
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data/huge", b"\0" * (64 << 20))
    assert path.stat().st_size < (1 << 20)
    with pytest.raises(ModelFolderError, match="unpacks to"):
        DIFFA2.from_hparams(source=str(bad))
