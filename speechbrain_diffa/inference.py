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
:mod:`speechbrain_diffa.hub.export` writes such folders from a recipe's output or the DIFFA-2 release.

Safety: a model folder from elsewhere can neither run code nor reach outside itself while it
loads. Its YAML may call only :data:`ALLOWED_CALLABLES` (:mod:`speechbrain_diffa.hub.safe_hparams`),
its checkpoint must be a file inside it that covers every trained tensor, and its base models
follow the rules of :mod:`speechbrain_diffa.hub.model_folder`. Checkpoints are read with
safetensors or ``weights_only=True``; no remote code is ever run.

Authors
 * speechbrain_diffa contributors 2026
"""

import copy
import os

import torch
from speechbrain.inference.interfaces import Pretrained

from speechbrain_diffa.data.audio import AudioError, batch_waveforms, check_audio_batch, load_audio
from speechbrain_diffa.decoding_presets import compiled_decoding
from speechbrain_diffa.hub.model_folder import ModelFolder, load_hparams, local_model_folder
from speechbrain_diffa.hub.safe_hparams import ALLOWED_CALLABLES, check_hparams_file

TRAINED_FILE = "diffa2.ckpt"  # what a model folder holds besides hyperparams.yaml
LOADABLE = "diffa2"  # the Pretrainer key that loads it
__all__ = ["ALLOWED_CALLABLES", "DIFFA2", "LOADABLE", "TRAINED_FILE", "check_hparams_callables", "local_model_folder"]


check_hparams_callables = check_hparams_file  # the earlier name of the check


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
    if not isinstance(question, str):
        raise TypeError(f"A question must be a str, got {type(question).__name__} ({question!r})")
    if not question.strip():
        raise ValueError(f"The question is empty ({question!r}): ask something about the audio")


class DIFFA2(Pretrained):
    """Answer questions about audio with a trained DIFFA-2 (the model-hub interface).

    Built by :meth:`from_hparams` from a model folder: ``modules`` holds ``diffa`` (a
    :class:`~speechbrain_diffa.model.DIFFA2Model`), ``hparams`` the ``decoding`` defaults for
    answers, ``transcribe_prompt`` and ``transcribe_decoding``. Any decoding option of
    :func:`speechbrain_diffa.sampling.generate` given to a call overrides those defaults.
    ``precision: auto`` in the YAML runs bf16 autocast where the device supports it.
    ``run_opts={"compile": True}`` decodes the fast path on the static cache, captured as CUDA graphs on a GPU,
    with the Whisper encoder compiled there too (:mod:`speechbrain_diffa.static_cache`; the same answers).

    Example
    -------
    >>> from speechbrain_diffa.hub.export import write_tiny_model_folder
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
        # SpeechBrain's own compile would wrap the module's forward, which decoding never calls.
        self.compiled = bool(_run_option(run_opts, "compile"))
        run_opts = _without_compile(run_opts) if self.compiled else run_opts
        super().__init__(modules=modules, hparams=hparams, run_opts=run_opts, freeze_params=freeze_params)
        self.model = self.mods.diffa
        if self.compiled and torch.device(self.device).type == "cuda":
            self.model.encoder.compile_for_decoding()
        self.description = {
            "class": "DIFFA2",
            "source": hparams.get("source"),
            "stage": self.model.stage,
            "precision": self.precision,
        }

    @classmethod
    def from_hparams(
        cls,
        source,
        hparams_file="hyperparams.yaml",
        savedir=None,
        overrides=None,
        overrides_must_match=True,
        trust_hparams=False,
        download_only=False,
        **kwargs,
    ):
        """Load a model folder (local) or hub repo, by the rules of :mod:`speechbrain_diffa.hub.model_folder`.

        Arguments
        ---------
        source : str
            A local model folder, or a Hugging Face repo (``owner/name`` or ``hf://owner/name``).
        hparams_file : str
            The YAML, a file inside ``source``.
        savedir : str
            Where a hub repo is downloaded (default ``pretrained_models/owner--name``); a local
            folder is read in place.
        overrides : dict
            Replacement values, e.g. ``{"whisper_path": ..., "llm_path": ...}`` (local folders,
            relative to your working directory, or hub repo ids).
        overrides_must_match : bool
            Every override must name a key of the YAML.
        trust_hparams : bool
            Lift the callable allow-list (only for a YAML you wrote yourself).
        download_only : bool
            Fetch a hub repo's files and return None.
        **kwargs
            ``run_opts`` (``{"device": "cuda:0"}``) and ``freeze_params``.

        Returns
        -------
        DIFFA2
        """
        folder = ModelFolder(source, hparams_file, savedir)
        if download_only:
            return None
        hparams = load_hparams(folder, overrides, overrides_must_match, trust_hparams)
        model = cls(modules=hparams["modules"], hparams=hparams, **kwargs)
        model.description["source"] = folder.source
        return model

    def answer_batch(self, wavs, wav_lens, questions, **decoding):
        """Answer one question per clip.

        Arguments
        ---------
        wavs : torch.Tensor
            ``(batch, samples)`` at 16 kHz, right-padded.
        wav_lens : torch.Tensor
            ``(batch,)`` relative lengths in (0, 1] (1.0 = the longest clip). Each clip is decoded
            as if alone, so its answer does not depend on the rest of its batch.
        questions : list of str or str
            One non-empty question per clip (a single str: the same question for every clip).
        **decoding
            Overrides of the ``decoding`` defaults (``steps``, ``gen_length``, ``block_length``,
            ``threshold``, ``factor``, ``cache``, ``eos_early_stop``...).

        Returns
        -------
        list of str
        """
        check_audio_batch(wavs, wav_lens)
        if isinstance(questions, str):  # one question for every clip, as answer_files takes it
            questions = [questions] * wavs.shape[0]
        for question in questions:
            _check_question(question)
        return self._generate(wavs, wav_lens, questions, {**self.hparams.decoding, **decoding})

    def answer_file(self, path, question, **decoding):
        """Answer ``question`` about the audio file ``path`` (any format soundfile reads).

        Raises :class:`speechbrain_diffa.data.audio.AudioError` (naming the file) if it is unreadable.
        """
        _check_question(question)
        wav = self.load_audio(path)
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
        return self._files_in_batches(paths, questions, batch_size, {**self.hparams.decoding, **decoding})

    def transcribe_batch(self, wavs, wav_lens, **decoding):
        """Transcripts of a batch (the ``transcribe_prompt`` with ``transcribe_decoding``)."""
        check_audio_batch(wavs, wav_lens)
        questions = [self.hparams.transcribe_prompt] * wavs.shape[0]
        return self._generate(wavs, wav_lens, questions, {**self.hparams.transcribe_decoding, **decoding})

    def transcribe_file(self, path, **decoding):
        """The transcript of one audio file."""
        wav = self.load_audio(path)
        return self.transcribe_batch(wav[None], torch.ones(1), **decoding)[0]

    def transcribe_files(self, paths, batch_size=1, **decoding):
        """The transcript of each audio file, ``batch_size`` files at a time (each as if decoded alone)."""
        questions = [self.hparams.transcribe_prompt] * len(paths)
        return self._files_in_batches(paths, questions, batch_size, {**self.hparams.transcribe_decoding, **decoding})

    def _files_in_batches(self, paths, questions, batch_size, decoding):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        waveforms = [self.load_audio(p) for p in paths]  # every file checked before decoding
        outputs = []
        for start in range(0, len(paths), batch_size):
            wavs, lens = batch_waveforms(waveforms[start : start + batch_size])
            outputs += self._generate(wavs, lens, questions[start : start + batch_size], decoding)
        return outputs

    def load_audio(self, path, savedir=None):
        """A clip as the model takes it (16 kHz mono, at most 30 s), read and checked by our ``load_audio``.

        As SpeechBrain's ``Pretrained.load_audio``, ``path`` may also be a URL or a hub path
        (``owner/repo/file.wav``), fetched into ``savedir``; an existing local file is read where it
        is, and a path whose folder exists locally is never looked up on the hub.

        Arguments
        ---------
        path : str or os.PathLike
            Local file, URL or hub path.
        savedir : str, optional
            Where a fetched file is stored (SpeechBrain's default: the model's ``savedir``).

        Returns
        -------
        torch.Tensor
            ``(samples,)`` on the CPU (batches are moved to the model's device when decoded).
        """
        path = os.fspath(path)
        if os.path.isfile(path) or os.path.isdir(os.path.dirname(path) or "."):
            return load_audio(path)
        from speechbrain.utils.data_utils import split_path
        from speechbrain.utils.fetching import fetch

        source, name = split_path(path)
        try:
            local = fetch(name, source=source, savedir=savedir)
        except Exception as error:  # a network, hub or file-system failure: say which file, once
            raise AudioError(f"{path}: not a local file, and fetching it failed: {error}") from error
        return load_audio(os.fspath(local))

    def forward(self, wavs, wav_lens, questions, **decoding):
        """Same as :meth:`answer_batch`."""
        return self.answer_batch(wavs, wav_lens, questions, **decoding)

    def _generate(self, wavs, wav_lens, questions, decoding):
        wavs, wav_lens = wavs.to(self.device), wav_lens.to(self.device)
        if self.compiled:
            decoding = compiled_decoding(decoding, cuda=torch.device(self.device).type == "cuda")
        with torch.no_grad(), self.inference_ctx:
            return self.model.answer(wavs, wav_lens, list(questions), **decoding)


def _without_compile(run_opts):
    """``run_opts`` with SpeechBrain's ``compile`` off (DIFFA2 compiles what decoding runs instead)."""
    if isinstance(run_opts, dict):
        return {**run_opts, "compile": False}
    run_opts = copy.copy(run_opts)
    run_opts.compile = False
    return run_opts


def _run_option(run_opts, name):
    """``run_opts[name]`` for a dict or SpeechBrain ``RunOptions`` (None if unset)."""
    if run_opts is None:
        return None
    if isinstance(run_opts, dict):
        return run_opts.get(name)
    return getattr(run_opts, name, None) if name in getattr(run_opts, "overridden_args", ()) else None
