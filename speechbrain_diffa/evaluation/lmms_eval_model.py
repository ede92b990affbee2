"""DIFFA-2 as an lmms-eval model: ``lmms-eval --model diffa2 --model_args pretrained=FOLDER --tasks mmau_test_mini``.

`lmms-eval <https://github.com/EvolvingLMMs-Lab/lmms-eval>`_ is the harness this field runs audio
benchmarks with. Installing this package with the ``lmms`` extra (``pip install
speechbrain_diffa[lmms]``) registers the model through lmms-eval's ``lmms_eval.models`` entry
points, so ``--model diffa2`` resolves to :class:`DIFFA2LMM`. Its ``--model_args``: ``pretrained``
(a model folder or hub repo), ``device``, ``batch_size``, ``preset`` (a decoding preset) and any
decoding option (``steps``, ``gen_length``, ``factor``, ...).

Each request carries its clip through the task's ``doc_to_visual`` (a dict with ``array`` and
``sampling_rate``, a dict with ``bytes`` or ``path``, or a decoder object with
``get_all_samples()``, as the ``datasets`` library hands them out); anything else is refused by
name. Answers are decoded with the model folder's decoding, not the task's ``max_new_tokens``
(DIFFA-2 writes its answer on a fixed canvas: a 128-token canvas for a one-letter answer would
cost 8 times the passes); ``gen_length`` in ``--model_args`` changes it. The task's ``until`` stop
strings cut the answer. Likelihood requests are refused: DIFFA-2 has no left-to-right likelihood.

The request handling (:func:`answer_requests`) does not import lmms-eval; only :class:`DIFFA2LMM`
(the registered subclass of lmms-eval's model base class) does.

Authors
 * speechbrain_diffa contributors 2026
"""

import io

import torch

from speechbrain_diffa.data.audio import MAX_SECONDS, WHISPER_SAMPLE_RATE, AudioError, batch_waveforms
from speechbrain_diffa.decoding_presets import preset as named_preset

MODEL_ID = "diffa2"
DECODING_ARGS = {"steps": int, "gen_length": int, "block_length": int, "threshold": float, "factor": float}


def waveform_of(audio):
    """A clip as lmms-eval tasks hand it over, as a 16 kHz mono waveform of at most 30 s.

    Example
    -------
    >>> import numpy as np
    >>> waveform_of({"array": np.zeros(32000), "sampling_rate": 32000}).shape
    torch.Size([16000])
    >>> waveform_of("clip.wav")
    Traceback (most recent call last):
    ...
    speechbrain_diffa.data.audio.AudioError: An lmms-eval audio must be a dict with 'array' and 'sampling_rate', ...
    """
    import soundfile

    if isinstance(audio, dict) and "array" in audio and "sampling_rate" in audio:
        wave, rate = torch.as_tensor(audio["array"], dtype=torch.float32), int(audio["sampling_rate"])
    elif isinstance(audio, dict) and (audio.get("bytes") or audio.get("path")):
        source = io.BytesIO(audio["bytes"]) if audio.get("bytes") else audio["path"]
        data, rate = soundfile.read(source, dtype="float32", always_2d=True)
        wave = torch.from_numpy(data).T
    elif hasattr(audio, "get_all_samples"):  # datasets' AudioDecoder (torchcodec)
        samples = audio.get_all_samples()
        wave, rate = samples.data.float(), int(samples.sample_rate)
    else:
        raise AudioError(
            "An lmms-eval audio must be a dict with 'array' and 'sampling_rate', a dict with 'bytes' or 'path', "
            f"or an object with get_all_samples(); got {type(audio).__name__}"
        )
    if wave.dim() == 2:
        wave = wave.mean(0) if wave.shape[0] <= wave.shape[1] else wave.mean(1)
    if wave.dim() != 1 or wave.numel() == 0 or not torch.isfinite(wave).all():
        raise AudioError(f"An lmms-eval audio must be a non-empty finite mono or multi-channel clip, got {wave.shape}")
    if rate != WHISPER_SAMPLE_RATE:
        import torchaudio

        wave = torchaudio.functional.resample(wave, rate, WHISPER_SAMPLE_RATE)
    return wave[: int(MAX_SECONDS * WHISPER_SAMPLE_RATE)]


def decoding_from_args(preset=None, **options):
    """Decoding options from ``--model_args`` strings (``preset``, then each option).

    Example
    -------
    >>> decoding_from_args(preset="answer-reference", steps="8")["steps"]
    8
    >>> decoding_from_args(temperature="2")
    Traceback (most recent call last):
    ...
    ValueError: Unknown diffa2 model_args ['temperature']; use pretrained, device, batch_size, preset, ...
    """
    unknown = sorted(set(options) - set(DECODING_ARGS) - {"cache", "eos_early_stop"})
    if unknown:
        allowed = ", ".join(["pretrained", "device", "batch_size", "preset", *DECODING_ARGS, "cache", "eos_early_stop"])
        raise ValueError(f"Unknown diffa2 model_args {unknown}; use {allowed}")
    out = named_preset(preset) if preset else {}
    for key, value in options.items():
        if key in DECODING_ARGS:
            out[key] = DECODING_ARGS[key](value)
        elif key == "cache":
            out[key] = None if str(value).lower() in ("none", "null", "") else str(value)
        else:
            out[key] = str(value).lower() in ("1", "true", "yes")
    return out


def _cut_at_stops(text, until):
    """``text`` up to the first of the ``until`` strings."""
    for stop in until or ():
        if stop and stop in text:
            text = text[: text.index(stop)]
    return text


def answer_requests(model, requests, task_dict, batch_size=1, decoding=None):
    """Answer lmms-eval ``generate_until`` requests with a DIFFA-2 model, ``batch_size`` clips at a time.

    Arguments
    ---------
    model : speechbrain_diffa.inference.DIFFA2
        Anything with ``answer_batch(wavs, wav_lens, questions, **decoding)``.
    requests : list
        lmms-eval ``Instance`` s: ``args`` is ``(context, generation_kwargs, doc_to_visual, doc_id,
        task, split)``.
    task_dict : dict
        ``task_dict[task][split][doc_id]`` is the request's document (lmms-eval fills it in).
    batch_size : int
        Clips per decode; each clip is decoded as if alone, so answers do not depend on it.
    decoding : dict
        Options over the model folder's decoding.

    Returns
    -------
    list of str
        One answer per request, in request order.

    Example
    -------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> class Echo:
    ...     def answer_batch(self, wavs, wav_lens, questions, **decoding):
    ...         return [f"{q} ({wavs.shape[0]} in batch)" for q in questions]
    >>> docs = {"mmau": {"test": [{"audio": {"array": np.zeros(1600), "sampling_rate": 16000}}]}}
    >>> request = SimpleNamespace(args=("Which?", {"until": [" in"]}, lambda d: [d["audio"]], 0, "mmau", "test"))
    >>> answer_requests(Echo(), [request, request], docs, batch_size=2)
    ['Which? (2', 'Which? (2']
    """
    answers = [None] * len(requests)
    pending = []
    for index, request in enumerate(requests):
        context, gen_kwargs, doc_to_visual, doc_id, task, split = request.args
        audios = doc_to_visual(task_dict[task][split][doc_id])
        if not isinstance(audios, (list, tuple)) or len(audios) != 1:
            count = len(audios) if isinstance(audios, (list, tuple)) else type(audios).__name__
            raise AudioError(f"{task} doc {doc_id}: DIFFA-2 answers about exactly one clip, the task gave {count}")
        until = (gen_kwargs or {}).get("until")
        pending.append((index, waveform_of(audios[0]), context, [until] if isinstance(until, str) else until))
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        wavs, lens = batch_waveforms([wave for _, wave, _, _ in chunk])
        texts = model.answer_batch(wavs, lens, [context for _, _, context, _ in chunk], **(decoding or {}))
        for (index, _, _, until), text in zip(chunk, texts):
            answers[index] = _cut_at_stops(text, until)
    return answers


def manifest():
    """lmms-eval's model manifest for ``--model diffa2`` (the ``lmms_eval.models`` entry point)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return ModelManifest(model_id=MODEL_ID, simple_class_path=f"{__name__}.DIFFA2LMM")


def __getattr__(name):
    """``DIFFA2LMM`` is built on first use, so that this module imports without lmms-eval."""
    if name == "DIFFA2LMM":
        return _lmms_class()
    raise AttributeError(name)


_CLASS = {}


def _lmms_class():
    """The lmms-eval model class (a subclass of ``lmms_eval.api.model.lmms``)."""
    if "class" in _CLASS:
        return _CLASS["class"]
    try:
        from lmms_eval.api.model import lmms
    except ImportError:
        raise ImportError("The lmms-eval model needs lmms-eval: pip install 'speechbrain_diffa[lmms]'") from None

    class DIFFA2LMM(lmms):
        """DIFFA-2 in lmms-eval (``--model diffa2 --model_args pretrained=FOLDER``)."""

        is_simple = True

        def __init__(self, pretrained, device="cpu", batch_size=1, **decoding):
            super().__init__()
            from speechbrain_diffa.inference import DIFFA2

            self.decoding = decoding_from_args(**decoding)
            self.batch_size = int(batch_size)
            self.model = DIFFA2.from_hparams(source=pretrained, run_opts={"device": str(device)})

        def generate_until(self, requests):
            """Answers for ``generate_until`` requests (see :func:`answer_requests`)."""
            return answer_requests(self.model, requests, self.task_dict, self.batch_size, self.decoding)

        def loglikelihood(self, requests):
            """Refused: DIFFA-2 has no left-to-right likelihood (its audio tasks generate)."""
            raise NotImplementedError("diffa2 answers generate_until requests only (no loglikelihood)")

        def generate_until_multi_round(self, requests):
            """Refused: DIFFA-2 answers one turn."""
            raise NotImplementedError("diffa2 answers one turn (no multi-round generation)")

    DIFFA2LMM.__module__, DIFFA2LMM.__qualname__ = __name__, "DIFFA2LMM"
    _CLASS["class"] = DIFFA2LMM
    return DIFFA2LMM
