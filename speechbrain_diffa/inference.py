"""DIFFA-2 from a model folder or hub repo: answer questions about audio, transcribe.

::

    from speechbrain_diffa.inference import DIFFA2
    model = DIFFA2.from_hparams(source="path/or/org-repo", savedir="pretrained_models/diffa2",
                                overrides={"whisper_path": "...", "llm_path": "..."})
    model.answer_file("example.wav", "What can you hear?")
    model.transcribe_file("example.wav")

A model folder holds ``hyperparams.yaml`` (SpeechBrain's format: the wiring, the base models'
paths and the default decoding) and ``diffa2.ckpt`` (only what training produced: adapters,
prompts, LoRA). ``hparams/diffa2.yaml`` and ``hparams/diffa2_tiny.yaml`` are examples;
:mod:`speechbrain_diffa.export` writes such folders from a recipe's output or the DIFFA-2 release.

Safety: before a ``hyperparams.yaml`` is loaded, every callable it names (``!new:``, ``!apply:``,
``!name:``, ``!module:``) must be one of :data:`ALLOWED_CALLABLES` (pass ``trust_hparams=True`` to
lift this for a file you wrote yourself). Checkpoints are read with ``weights_only=True``; no
remote code is ever run.

Authors
 * speechbrain_diffa contributors 2026
"""

import os
import re

import torch
from speechbrain.inference.interfaces import Pretrained
from speechbrain.utils.fetching import fetch

from speechbrain_diffa.checkpoints import read_state_dict
from speechbrain_diffa.dataio import batch_waveforms, load_audio

TRAINED_FILE = "diffa2.ckpt"  # what a model folder holds besides hyperparams.yaml
LOADABLE = "diffa2"  # the Pretrainer key that fetches it
# The only callables a model folder's hyperparams.yaml may name (unless trust_hparams=True).
ALLOWED_CALLABLES = frozenset(
    {
        "speechbrain_diffa.inference.local_model_folder",
        "speechbrain_diffa.whisper.WhisperEncoderTaps",
        "speechbrain_diffa.llada.LLaDA.from_pretrained",
        "speechbrain_diffa.adapters.SemanticAdapter",
        "speechbrain_diffa.adapters.AcousticAdapter",
        "speechbrain_diffa.chat.ChatLayout",
        "speechbrain_diffa.chat.load_tokenizer",
        "speechbrain_diffa.model.DIFFA2Model",
        "speechbrain.utils.parameter_transfer.Pretrainer",
        "len",
    }
)
_CALLABLE_TAG = re.compile(r"!(new|apply|name|module):([^\s\[\]{},]+)")
_OTHER_CODE_TAGS = re.compile(r"!(include|tuple_apply)\b")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def check_hparams_callables(path):
    """Refuse a ``hyperparams.yaml`` that names a callable outside :data:`ALLOWED_CALLABLES`.

    HyperPyYAML calls whatever ``!new:`` / ``!apply:`` name, so a model folder from elsewhere
    could otherwise run any importable function while it loads.

    Arguments
    ---------
    path : str
        The YAML file.

    Example
    -------
    >>> path = getfixture("tmpdir") + "/hyperparams.yaml"
    >>> _ = open(path, "w").write("x: !apply:os.system [echo hi]\\n")
    >>> check_hparams_callables(path)
    Traceback (most recent call last):
    ...
    PermissionError: .../hyperparams.yaml names callables a DIFFA2 model folder may not use: ['os.system'] ...
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    named = {m.group(2) for m in _CALLABLE_TAG.finditer(text)}
    refused = sorted(named - ALLOWED_CALLABLES) + sorted({"!" + m.group(1) for m in _OTHER_CODE_TAGS.finditer(text)})
    if refused:
        raise PermissionError(
            f"{path} names callables a DIFFA2 model folder may not use: {refused} (allowed: "
            f"{sorted(ALLOWED_CALLABLES)}). If you wrote this file yourself, pass trust_hparams=True."
        )


def local_model_folder(name_or_path):
    """A base model as a local folder: the path itself, or a Hugging Face repo id downloaded.

    Arguments
    ---------
    name_or_path : str
        A local folder (e.g. a copy of ``GSAI-ML/LLaDA-8B-Instruct``) or a repo id. Downloads go
        to the Hugging Face cache and respect ``HF_HUB_OFFLINE``.

    Returns
    -------
    str

    Example
    -------
    >>> local_model_folder(str(getfixture("tmpdir"))) == str(getfixture("tmpdir"))
    True
    >>> local_model_folder("/no/such/folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: Base model folder not found: /no/such/folder (give a local folder or a Hugging Face repo id)
    """
    name_or_path = os.fspath(name_or_path)
    if os.path.isdir(name_or_path):
        return name_or_path
    if os.path.isabs(name_or_path) or name_or_path.startswith(".") or not _REPO_ID.match(name_or_path):
        raise FileNotFoundError(
            f"Base model folder not found: {name_or_path} (give a local folder or a Hugging Face repo id)"
        )
    from huggingface_hub import snapshot_download

    return snapshot_download(repo_id=name_or_path)


def resolve_precision(precision, device):
    """``"auto"`` becomes ``"bf16"`` on a GPU that supports it and ``"fp32"`` elsewhere.

    Example
    -------
    >>> resolve_precision("auto", "cpu"), resolve_precision("fp16", "cuda:0")
    ('fp32', 'fp16')
    """
    if precision != "auto":
        return precision
    if str(device).startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def _check_question(question):
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"The question is empty ({question!r}): ask something about the audio")


class DIFFA2(Pretrained):
    """Answer questions about audio with a trained DIFFA-2 (the model-hub interface).

    Built by :meth:`from_hparams` from a model folder: ``modules`` holds ``diffa`` (a
    :class:`~speechbrain_diffa.model.DIFFA2Model`), ``hparams`` the ``decoding`` defaults for
    answers, ``transcribe_prompt`` and ``transcribe_decoding``. Any decoding option of
    :func:`speechbrain_diffa.sampling.generate` given to a call overrides those defaults.
    ``precision: auto`` in the YAML runs bf16 autocast where the device supports it.

    Example
    -------
    >>> from speechbrain_diffa.export import write_tiny_model_folder
    >>> folder = write_tiny_model_folder(str(getfixture("tmpdir")))
    >>> model = DIFFA2.from_hparams(source=folder)
    >>> model.answer_file(folder + "/example.wav", "Is the tone high or low?", steps=2, gen_length=2,
    ...                   block_length=2) == model.answer_file(folder + "/example.wav",
    ...                   "Is the tone high or low?", steps=2, gen_length=2, block_length=2)
    True
    >>> model.answer_file(folder + "/example.wav", "  ")
    Traceback (most recent call last):
    ...
    ValueError: The question is empty ('  '): ask something about the audio
    """

    HPARAMS_NEEDED = ["decoding", "transcribe_prompt", "transcribe_decoding"]
    MODULES_NEEDED = ["diffa"]

    def __init__(self, modules=None, hparams=None, run_opts=None, freeze_params=True):
        hparams = dict(hparams or {})
        device = _run_option(run_opts, "device") or hparams.get("device")
        if device is None:
            from speechbrain.utils.distributed import infer_device

            device = infer_device()
        hparams["precision"] = resolve_precision(hparams.get("precision", "fp32"), device)
        _check_trained_file(modules["diffa"], hparams.get("pretrainer"))
        super().__init__(modules=modules, hparams=hparams, run_opts=run_opts, freeze_params=freeze_params)
        self.model = self.mods.diffa
        self.description = {
            "class": "DIFFA2",
            "source": hparams.get("source"),
            "stage": self.model.stage,
            "precision": self.precision,
        }

    @classmethod
    def from_hparams(cls, source, hparams_file="hyperparams.yaml", savedir=None, trust_hparams=False, **kwargs):
        """Load a model folder (local) or hub repo.

        Arguments
        ---------
        source : str
            A local model folder, or a Hugging Face repo id.
        hparams_file : str
            The YAML in ``source``.
        savedir : str
            Where fetched files go (default: ``source`` itself for a local folder, else
            ``pretrained_models/<repo>``).
        trust_hparams : bool
            Skip :func:`check_hparams_callables` (only for a YAML you wrote).
        **kwargs
            ``overrides`` (e.g. ``{"whisper_path": ..., "llm_path": ...}``), ``run_opts``
            (``{"device": "cuda:0"}``), and the rest of SpeechBrain's ``from_hparams`` options.

        Returns
        -------
        DIFFA2
        """
        source = os.fspath(source)
        if os.path.isdir(source):
            if not os.path.isfile(os.path.join(source, hparams_file)):
                raise FileNotFoundError(f"Model folder {source} has no {hparams_file}")
            savedir = savedir or source
        elif os.path.isabs(source) or source.startswith(".") or not _REPO_ID.match(source):
            raise FileNotFoundError(f"Model folder not found: {source}")
        else:
            savedir = savedir or os.path.join("pretrained_models", source.replace("/", "--"))
        if not trust_hparams:
            check_hparams_callables(str(fetch(filename=hparams_file, source=source, savedir=savedir)))
        model = super().from_hparams(source, hparams_file=hparams_file, savedir=savedir, **kwargs)
        model.description["source"] = os.path.abspath(source) if os.path.isdir(source) else source
        return model

    def answer_batch(self, wavs, wav_lens, questions, **decoding):
        """Answer one question per clip.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, samples)`` at 16 kHz, right-padded.
        wav_lens : torch.Tensor
            ``(batch,)`` relative lengths (1.0 = the longest clip). DIFFA attends to audio
            padding (as the release does), so a clip's answer can depend on its batch.
        questions : list of str
            One non-empty question per clip.
        **decoding
            Overrides of the ``decoding`` defaults (``steps``, ``gen_length``, ``block_length``,
            ``threshold``, ``factor``, ``cache``, ``eos_early_stop``...).

        Returns
        -------
        list of str
        """
        for question in questions:
            _check_question(question)
        return self._generate(wavs, wav_lens, questions, {**self.hparams.decoding, **decoding})

    def answer_file(self, path, question, **decoding):
        """Answer ``question`` about the audio file ``path`` (any format soundfile reads).

        Raises :class:`speechbrain_diffa.dataio.AudioError` (naming the file) if it is unreadable.
        """
        _check_question(question)
        wav = load_audio(os.fspath(path))
        return self.answer_batch(wav[None], torch.ones(1), [question], **decoding)[0]

    def answer_files(self, paths, questions, batch_size=1, **decoding):
        """Answer a question (one str for all, or one per file) about each file, ``batch_size`` at a time.

        Batch size 1 (the default) reproduces the release, which decodes one clip at a time.
        """
        questions = [questions] * len(paths) if isinstance(questions, str) else list(questions)
        if len(questions) != len(paths):
            raise ValueError(f"{len(questions)} questions for {len(paths)} files")
        for question in questions:
            _check_question(question)
        waveforms = [load_audio(os.fspath(p)) for p in paths]  # every file checked before decoding
        answers = []
        for start in range(0, len(paths), batch_size):
            wavs, lens = batch_waveforms(waveforms[start : start + batch_size])
            answers += self.answer_batch(wavs, lens, questions[start : start + batch_size], **decoding)
        return answers

    def transcribe_batch(self, wavs, wav_lens, **decoding):
        """Transcripts of a batch (the ``transcribe_prompt`` with ``transcribe_decoding``)."""
        questions = [self.hparams.transcribe_prompt] * wavs.shape[0]
        return self._generate(wavs, wav_lens, questions, {**self.hparams.transcribe_decoding, **decoding})

    def transcribe_file(self, path, **decoding):
        """The transcript of one audio file."""
        wav = load_audio(os.fspath(path))
        return self.transcribe_batch(wav[None], torch.ones(1), **decoding)[0]

    def forward(self, wavs, wav_lens, questions, **decoding):
        """Same as :meth:`answer_batch`."""
        return self.answer_batch(wavs, wav_lens, questions, **decoding)

    def _generate(self, wavs, wav_lens, questions, decoding):
        wavs, wav_lens = wavs.to(self.device), wav_lens.to(self.device)
        with torch.no_grad(), self.inference_ctx:
            return self.model.answer(wavs, wav_lens, list(questions), **decoding)


def _run_option(run_opts, name):
    """``run_opts[name]`` for a dict or SpeechBrain ``RunOptions`` (None if unset)."""
    if run_opts is None:
        return None
    if isinstance(run_opts, dict):
        return run_opts.get(name)
    return getattr(run_opts, name, None) if name in getattr(run_opts, "overridden_args", ()) else None


def _check_trained_file(model, pretrainer):
    """After the Pretrainer's transfer, the trained file must have covered every trainable tensor.

    The transfer hook (:meth:`DIFFA2Model.load_previous_stage`) accepts partial files, as chaining
    stages needs; a model folder must not be partial, or the missing tensors would silently stay
    at their random initialisation.
    """
    paths = getattr(pretrainer, "paths", {}) or {}
    path = paths.get(LOADABLE)
    if path is None or not os.path.isfile(path):
        return
    have = set(read_state_dict(path))
    missing = sorted(set(model.trainable_state_dict()) - have)
    if missing:
        raise ValueError(
            f"{path} lacks {len(missing)} tensors that a stage-{model.stage} model needs: {missing[:5]}"
        )
