"""A model folder as a boundary: what loading one may read, fetch and load.

A model folder (a local directory, or a Hugging Face repo downloaded into one) holds
``hyperparams.yaml`` and the trained checkpoint (``diffa2.ckpt``). Loading one, even from a
stranger, keeps to these rules:

- The YAML may call only the allow-listed callables (:mod:`speechbrain_diffa.hub.safe_hparams`).
- The checkpoint files the Pretrainer names are files inside the folder: no URL, no absolute
  path, no ``..``, no symlink that leads out; loadable keys are plain names; the Pretrainer
  may load only the model (``modules.diffa``), with the safe readers of
  :mod:`speechbrain_diffa.hub.weight_files`. Nothing is copied or linked anywhere.
- All or nothing: every tensor the model trains must come from the checkpoint, finite, and the
  checkpoint may hold nothing but trained parameters.
- Run options (``device``, ``compile``...) are the caller's: the YAML may set only ``precision``.
- Base models (``whisper_path``, ``llm_path``): a value written in the folder's YAML is a
  path inside the folder when relative, a local folder when absolute, and a hub repo only when
  written ``hf://owner/name``. A value you pass (an override, ``--llm_path``) is a local path
  (relative to your working directory) if it exists, else ``hf://owner/name`` or ``owner/name``
  names a hub repo.
- Downloads (a hub model folder, ``hf://`` base models) fetch only the files that are read
  (:data:`MODEL_FOLDER_FILES`, :data:`BASE_MODEL_FILES`) and honour ``HF_HUB_OFFLINE``.

Authors
 * speechbrain_diffa contributors 2026
"""

import os
import re
import zipfile

from speechbrain.utils.parameter_transfer import Pretrainer
from speechbrain.utils.run_opts import RunOptions

from speechbrain_diffa.hub.safe_hparams import build_checked_hparams, check_hparams_file, compose_hparams
from speechbrain_diffa.hub.weight_files import read_state_dict

HUB_PREFIX = "hf://"
BASE_MODEL_KEYS = ("whisper_path", "llm_path")  # the model-folder keys that name base models
MODEL_FOLDER_FILES = ("*.ckpt",)  # fetched from a hub model folder, with its hyperparams file
# What WhisperEncoderTaps, LLaDA.from_pretrained and load_tokenizer read from a base model.
BASE_MODEL_FILES = (
    "config.json",
    "preprocessor_config.json",
    "generation_config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
# SpeechBrain's Pretrained takes these from the hparams unless run_opts gives them; a folder may not.
# (precision is the folder's own default, resolved by DIFFA2: "auto", "fp32", "bf16" or "fp16".)
RUN_OPTIONS = frozenset(RunOptions().as_dict()) - {"precision"}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*$")


def _climbs(relative):
    """Whether a relative path has a ``..`` part (either separator)."""
    return ".." in re.split(r"[\\/]", relative)


class ModelFolderError(ValueError):
    """A model folder breaks one of the rules of this module (names the folder, file or key)."""


def hub_repo_id(value, bare=False):
    """The repo id that ``value`` names: ``hf://owner/name`` (or, with ``bare``, ``owner/name``).

    Example
    -------
    >>> hub_repo_id("hf://GSAI-ML/LLaDA-8B-Instruct"), hub_repo_id("tiny/whisper")
    ('GSAI-ML/LLaDA-8B-Instruct', None)
    >>> hub_repo_id("tiny/whisper", bare=True)
    'tiny/whisper'
    """
    value = os.fspath(value)
    repo = value[len(HUB_PREFIX) :] if value.startswith(HUB_PREFIX) else (value if bare else None)
    if repo is None:
        return None
    if not _REPO_ID.match(repo) or ".." in repo:
        if value.startswith(HUB_PREFIX):
            raise ModelFolderError(f"{value!r} is not a Hugging Face repo id (hf://owner/name)")
        return None
    return repo


def download(repo_id, patterns, local_dir=None):
    """Fetch only the files matching ``patterns`` of a hub repo; return the local folder."""
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=repo_id, allow_patterns=list(patterns), local_dir=local_dir)


def local_model_folder(name_or_path):
    """A base model as a local folder: the folder itself, or an ``hf://owner/name`` repo downloaded.

    The callable the model-folder YAMLs wire base models through (as
    ``speechbrain_diffa.inference.local_model_folder``). :meth:`DIFFA2.from_hparams` has already
    resolved the folder's values to local folders by the rules of this module.

    Arguments
    ---------
    name_or_path : str
        A local folder (e.g. a copy of ``GSAI-ML/LLaDA-8B-Instruct``) or ``hf://owner/name``.
        Downloads fetch only :data:`BASE_MODEL_FILES` into the Hugging Face cache.

    Returns
    -------
    str

    Example
    -------
    >>> local_model_folder(str(getfixture("tmpdir"))) == str(getfixture("tmpdir"))
    True
    >>> local_model_folder(".")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Base model folder '.' is relative: load model folders with DIFFA2.from_hparams, ...
    >>> local_model_folder("GSAI-ML/LLaDA-8B-Instruct")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Base model folder not found: GSAI-ML/LLaDA-8B-Instruct (a local folder, or hf://owner/name ...)
    """
    name_or_path = os.fspath(name_or_path)
    if os.path.isdir(name_or_path) and os.path.isabs(name_or_path):
        return name_or_path
    repo = hub_repo_id(name_or_path)
    if repo is None and os.path.isdir(name_or_path):
        raise FileNotFoundError(
            f"Base model folder {name_or_path!r} is relative: load model folders with DIFFA2.from_hparams, which reads "
            "a relative path inside the model folder, or give an absolute path"
        )
    if repo is None:
        raise FileNotFoundError(
            f"Base model folder not found: {name_or_path} (a local folder, or hf://owner/name for a Hugging Face repo)"
        )
    return download(repo, BASE_MODEL_FILES)


def given_base_model(value):
    """A base model you passed (override, command line): a local path if it exists, else a hub repo.

    Example
    -------
    >>> given_base_model(str(getfixture("tmpdir"))) == str(getfixture("tmpdir"))
    True
    >>> given_base_model("./no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Base model folder not found: ./no/such/folder (a local folder, or owner/name ...)
    """
    value = os.fspath(value)
    if os.path.isdir(value):
        return os.path.abspath(value)
    repo = None if os.path.exists(value) else hub_repo_id(value, bare=True)
    if repo is None:
        raise FileNotFoundError(
            f"Base model folder not found: {value} (a local folder, or owner/name / hf://owner/name for a "
            "Hugging Face repo)"
        )
    return download(repo, BASE_MODEL_FILES)


class ModelFolder:
    """A model folder on this machine, and the hub repo it came from (if any).

    Arguments
    ---------
    source : str
        A local folder, or a Hugging Face repo (``owner/name`` or ``hf://owner/name``) that is
        downloaded (only ``hparams_file`` and :data:`MODEL_FOLDER_FILES`).
    hparams_file : str
        The YAML, a file inside the folder.
    savedir : str
        Where a hub repo is downloaded (default ``pretrained_models/owner--name``). A local
        folder is read in place.

    Example
    -------
    >>> ModelFolder("/no/such/model")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Model folder not found: /no/such/model
    """

    def __init__(self, source, hparams_file="hyperparams.yaml", savedir=None):
        source = os.fspath(source)
        self.repo_id = None if os.path.isdir(source) else hub_repo_id(source, bare=not os.path.exists(source))
        if self.repo_id is None:
            if not os.path.isdir(source):
                raise FileNotFoundError(f"Model folder not found: {source}")
            self.path = os.path.abspath(source)
        else:
            self.savedir = savedir or os.path.join("pretrained_models", self.repo_id.replace("/", "--"))
            self.path = os.path.abspath(download(self.repo_id, (hparams_file, *MODEL_FOLDER_FILES), self.savedir))
        self.source = self.path if self.repo_id is None else self.repo_id
        self.hparams_path = self.file(hparams_file, "the hparams file")

    def file(self, name, what):
        """``name`` as a regular file inside the folder (refused: URLs, absolute, ``..``, links out)."""
        if not isinstance(name, (str, os.PathLike)):
            raise ModelFolderError(f"{self.source}: {what} must be a file name, got {name!r}")
        name = os.fspath(name)
        if "://" in name or name.startswith(("http:", "https:")):
            raise ModelFolderError(f"{self.source}: {what} is a URL ({name}); it must be a file inside the folder")
        if os.path.isabs(name) or _climbs(name):
            raise ModelFolderError(f"{self.source}: {what} ({name}) must be a relative path inside the folder")
        path = os.path.join(self.path, name)
        if not self.contains(path):
            raise ModelFolderError(f"{self.source}: {what} ({name}) is a link that leads out of the folder")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"Model folder {self.source} has no {name} ({what})")
        return path

    def contains(self, path):
        """Whether ``path`` (links followed) lies inside the folder."""
        root = os.path.realpath(self.path)
        return os.path.realpath(path).startswith(root + os.sep)

    def base_model(self, value, key):
        """A base-model value written in the folder's YAML, as a local folder (the module's rules)."""
        repo = hub_repo_id(value)
        if repo is not None:
            return download(repo, BASE_MODEL_FILES)
        if os.path.isabs(value):
            if not os.path.isdir(value):
                raise FileNotFoundError(f"{self.hparams_path}: {key} {value} is not a folder on this machine")
            return value
        path = os.path.join(self.path, value)
        if self.repo_id is not None and not _climbs(value):
            download(self.repo_id, [f"{value.rstrip('/')}/{p}" for p in BASE_MODEL_FILES], self.savedir)
        if _climbs(value) or not os.path.isdir(path) or not self.contains(path):
            raise FileNotFoundError(
                f"{self.hparams_path}: {key} {value!r} is not a folder inside the model folder (a relative path "
                f"is read there). Pass {key} (an override or --{key}) with a local folder, or write "
                f"hf://owner/name for a Hugging Face repo."
            )
        return path


def base_model_overrides(folder, values, overrides):
    """Overrides that set each base-model key to a local folder, by the rules of this module.

    Arguments
    ---------
    folder : ModelFolder
    values : dict
        The YAML's top-level plain string values.
    overrides : dict
        Yours (a base-model key given here is resolved as a value you passed).

    Returns
    -------
    dict
        ``overrides`` with every base-model key the YAML or you set resolved.
    """
    overrides = dict(overrides or {})
    for key in BASE_MODEL_KEYS:
        if key in overrides:
            overrides[key] = given_base_model(overrides[key])
        elif key in values:
            overrides[key] = folder.base_model(values[key], key)
    return overrides


def load_hparams(folder, overrides=None, overrides_must_match=True, trust_hparams=False):
    """The folder's hparams, built, with the trained checkpoint loaded into ``modules.diffa``.

    Arguments
    ---------
    folder : ModelFolder
    overrides : dict
        Replacement values (yours).
    overrides_must_match : bool
        As in HyperPyYAML.
    trust_hparams : bool
        Lift the callable allow-list (only for a YAML you wrote). The other rules still hold.

    Returns
    -------
    dict
    """
    from hyperpyyaml import load_hyperpyyaml

    path = folder.hparams_path
    root = compose_hparams(path) if trust_hparams else check_hparams_file(path)
    if not trust_hparams:
        _check_top_level(root, path, overrides or {})
    overrides = base_model_overrides(folder, _top_level_strings(root), overrides)
    if trust_hparams:
        with open(path, encoding="utf-8") as f:
            hparams = load_hyperpyyaml(f, overrides, overrides_must_match)
    else:
        hparams = build_checked_hparams(path, overrides, overrides_must_match)  # checked above
    model = _the_model(hparams, path)
    load_checkpoints(folder, hparams.get("pretrainer"), model)
    hparams["savedir"] = folder.path
    return hparams


def _check_top_level(root, path, overrides):
    """Base models are plain strings (so the folder rules apply to them); run options are the caller's."""
    for key, value in root.value:
        plain = value.tag in ("tag:yaml.org,2002:str", "!PLACEHOLDER")
        if key.value in BASE_MODEL_KEYS and key.value not in overrides and not plain:
            raise ModelFolderError(
                f"{path}, line {key.start_mark.line + 1}: {key.value} must be a plain string (a path or "
                f"hf://owner/name), got {value.tag}"
            )
        if key.value in RUN_OPTIONS:
            raise ModelFolderError(
                f"{path}, line {key.start_mark.line + 1}: {key.value!r} is a run option, which a model folder may not "
                "set (pass run_opts={...} yourself)"
            )


def _top_level_strings(root):
    return {
        k.value: v.value
        for k, v in root.value
        if getattr(v, "tag", "") == "tag:yaml.org,2002:str" and isinstance(v.value, str)
    }


def _the_model(hparams, path):
    from speechbrain_diffa.model import DIFFA2Model

    model = (hparams.get("modules") or {}).get("diffa") if isinstance(hparams.get("modules"), dict) else None
    if not isinstance(model, DIFFA2Model):
        raise ModelFolderError(f"{path}: modules.diffa must be a speechbrain_diffa.model.DIFFA2Model, got {model!r}")
    return model


def _check_unpacked_size(path, model):
    """A torch checkpoint is a zip: refuse one that would unpack to far more than the model's trained tensors."""
    if not zipfile.is_zipfile(path):
        return  # safetensors (sizes in its header) or not a zip: read_state_dict names what is wrong
    limit = 4 * sum(p.numel() * p.element_size() for n, p in model.named_parameters() if model.is_trained_parameter(n))
    with zipfile.ZipFile(path) as archive:
        unpacked = sum(info.file_size for info in archive.infolist())
    if unpacked > limit + (16 << 20):
        raise ModelFolderError(
            f"{path} unpacks to {unpacked:,} bytes, far more than the {limit // 4:,} bytes of tensors this model trains"
        )


def load_checkpoints(folder, pretrainer, model):
    """Load what the folder's Pretrainer names into ``model``: files inside the folder, all or nothing.

    Arguments
    ---------
    folder : ModelFolder
    pretrainer : speechbrain.utils.parameter_transfer.Pretrainer
        Its ``loadables`` must all be ``model``; ``paths`` (default ``<key>.ckpt``) files in the folder.
    model : speechbrain_diffa.model.DIFFA2Model
    """
    where = folder.hparams_path
    if not isinstance(pretrainer, Pretrainer) or not pretrainer.loadables:
        raise ModelFolderError(f"{where}: 'pretrainer' must be a Pretrainer that loads modules.diffa from a checkpoint")
    state, files = {}, []
    for key, obj in pretrainer.loadables.items():
        if not isinstance(key, str) or not _NAME.match(key):
            raise ModelFolderError(f"{where}: the Pretrainer's loadable key {key!r} must be a plain name")
        if obj is not model:
            raise ModelFolderError(f"{where}: the Pretrainer's loadable {key!r} must be modules.diffa, got {type(obj)}")
        if key in pretrainer.custom_hooks:
            raise ModelFolderError(f"{where}: the Pretrainer's loadable {key!r} may not have a custom hook")
        path = folder.file(pretrainer.paths.get(key, f"{key}.ckpt"), f"the checkpoint of loadable {key!r}")
        _check_unpacked_size(path, model)
        state.update(read_state_dict(path))
        files.append(path)
    model.load_complete_state(state, " + ".join(files))
