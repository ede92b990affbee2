"""DIFFA-2 in lmms-eval: request handling in lmms-eval's request shape, and the registered model when installed."""

import io
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile
import torch

from speechbrain_diffa.data.audio import AudioError
from speechbrain_diffa.evaluation.lmms_eval_model import answer_requests
from speechbrain_diffa.hub.export import write_tiny_model_folder
from speechbrain_diffa.inference import DIFFA2

SHORT = {"steps": 8, "gen_length": 8, "block_length": 8}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_tiny_model_folder(str(tmp_path_factory.mktemp("lmms")))


@pytest.fixture(scope="module")
def model(folder):
    return DIFFA2.from_hparams(source=folder)


def tone(seconds, hz, rate):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


class Decoder:
    """Shaped like datasets' AudioDecoder: get_all_samples() -> .data (channels, samples), .sample_rate."""

    def __init__(self, wave, rate):
        self.wave, self.rate = wave, rate

    def get_all_samples(self):
        return SimpleNamespace(data=torch.from_numpy(self.wave)[None], sample_rate=self.rate)


def documents(tmp_path):
    """Four documents holding the same kind of clip in each form lmms-eval tasks hand out."""
    wav = io.BytesIO()
    soundfile.write(wav, tone(0.6, 300, 16000), 16000, format="WAV")
    path = tmp_path / "clip.flac"
    soundfile.write(str(path), tone(0.8, 1200, 16000), 16000)
    return [
        {"audio": {"array": tone(0.5, 500, 8000), "sampling_rate": 8000}, "q": "Is it high?"},
        {"audio": {"bytes": wav.getvalue(), "path": None}, "q": "Is it low?"},
        {"audio": {"path": str(path)}, "q": "What is heard?"},
        {"audio": Decoder(tone(0.7, 900, 22050), 22050), "q": "How long is it?"},
    ]


def requests_for(docs, until=None):
    gen_kwargs = {"max_new_tokens": 128, "until": until} if until else {"max_new_tokens": 128}
    return [SimpleNamespace(args=(d["q"], dict(gen_kwargs), lambda doc: [doc["audio"]], i, "mmau", "test_mini"))
            for i, d in enumerate(docs)]  # fmt: skip


def test_requests_are_answered_as_answer_file_answers_each_clip(model, tmp_path):
    """Every audio form, batched by 3, equals the interface's answer for that clip decoded alone."""
    from speechbrain_diffa.evaluation.lmms_eval_model import waveform_of

    docs = documents(tmp_path)
    answers = answer_requests(model, requests_for(docs), {"mmau": {"test_mini": docs}}, batch_size=3, decoding=SHORT)
    for doc, answer in zip(docs, answers):
        path = tmp_path / "alone.wav"
        soundfile.write(str(path), waveform_of(doc["audio"]).numpy(), 16000)
        assert answer == model.answer_file(str(path), doc["q"], **SHORT)


def test_stop_strings_cut_and_bad_audio_is_named(model, tmp_path):
    class Fixed:  # a stand-in whose answer is known, so the cut is checked exactly
        def answer_batch(self, wavs, wav_lens, questions, **decoding):
            return ["B. a dog\nExplanation: barking"] * len(questions)

    docs = documents(tmp_path)[:1]
    tasks = {"mmau": {"test_mini": docs}}
    assert answer_requests(Fixed(), requests_for(docs, until=["\n"]), tasks) == ["B. a dog"]
    assert answer_requests(Fixed(), requests_for(docs, until="Expl"), tasks) == ["B. a dog\n"]
    two = [SimpleNamespace(args=("Q?", {}, lambda doc: [doc["audio"], doc["audio"]], 0, "mmau", "test_mini"))]
    with pytest.raises(AudioError, match="mmau doc 0: DIFFA-2 answers about exactly one clip, the task gave 2"):
        answer_requests(model, two, {"mmau": {"test_mini": docs}})
    odd = [{"audio": [0.0, 0.1], "q": "?"}]
    with pytest.raises(AudioError, match="got list"):
        answer_requests(model, requests_for(odd), {"mmau": {"test_mini": odd}})


def test_the_registered_lmms_eval_model_answers_real_instances(folder, model, tmp_path):
    """With lmms-eval installed (the ``lmms`` extra): --model diffa2 resolves, takes --model_args, answers."""
    pytest.importorskip("lmms_eval")
    from lmms_eval.api.instance import Instance
    from lmms_eval.models import get_model

    cls = get_model("diffa2")
    lmm = cls.create_from_arg_string(f"pretrained={folder},batch_size=2,steps=8,gen_length=8,block_length=8")
    docs = documents(tmp_path)
    lmm.task_dict = {"mmau": {"test_mini": docs}}
    instances = [
        Instance("generate_until", r.args, idx=0, metadata={"task": "mmau", "doc_id": i, "repeats": 1})
        for i, r in enumerate(requests_for(docs))
    ]
    assert lmm.generate_until(instances) == answer_requests(model, instances, lmm.task_dict, decoding=SHORT)
    with pytest.raises(NotImplementedError, match="no loglikelihood"):
        lmm.loglikelihood(instances)
