"""DIFFA2, the model-hub interface: loading a model folder, answering, safety checks, hub YAMLs."""

import os

import pytest
import torch

from speechbrain_diffa.data.audio import AudioError, batch_waveforms, load_audio
from speechbrain_diffa.decoding_presets import preset
from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
from speechbrain_diffa.hub.export import FULL_VALUES, TINY_VALUES, render_hub_yaml, write_tiny_model_folder
from speechbrain_diffa.inference import DIFFA2, check_hparams_callables
from speechbrain_diffa.sampling import EOS_STOP_DECODING, REFERENCE_DECODING

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "..", "hparams")
SHORT = {"steps": 4, "gen_length": 4, "block_length": 4}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_root):
    """A stage-3 tiny model folder whose LoRA is non-zero (so that loading it matters)."""
    root = str(tmp_path_factory.mktemp("hub"))
    folder = write_tiny_model_folder(root, stage=3, seed=1, tiny_root=tiny_root)
    path = os.path.join(folder, "diffa2.ckpt")
    state = torch.load(path, weights_only=True)
    generator = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=generator) * 0.3 if "lora_B" in k else v for k, v in state.items()}
    torch.save(state, path)
    return folder


@pytest.fixture(scope="module")
def model(folder):
    """The folder loaded with DIFFA2.from_hparams."""
    return DIFFA2.from_hparams(source=folder)


@pytest.mark.parametrize("name, values", [("diffa2.yaml", FULL_VALUES), ("diffa2_tiny.yaml", TINY_VALUES)])
def test_hub_yamls_are_the_rendered_template(name, values):
    """hparams/*.yaml stay what the exporter writes, and name only allowed callables."""
    path = os.path.join(HPARAMS, name)
    with open(path, encoding="utf-8") as f:
        assert f.read() == render_hub_yaml(values)
    check_hparams_callables(path)


def test_loaded_model_equals_the_model_it_was_saved_from(folder, model, tiny_root):
    """Same tensors and same answers as the in-process model with the folder's checkpoint."""
    source = make_tiny_diffa2(tiny_root, stage=3, seed=1)
    source.load_trainable(os.path.join(folder, "diffa2.ckpt"))
    source.eval()
    loaded = dict(model.model.named_parameters())
    for name, value in source.named_parameters():
        if name != "trainable_prompts.weight":  # used by stage 1 only, so not in a stage-3 checkpoint
            assert torch.equal(loaded[name], value), name
    wav = torch.sin(torch.arange(12000) / 5.0)[None] * 0.3
    expected = source.answer(wav, torch.ones(1), ["Is the tone high or low?"], **SHORT, **REFERENCE_DECODING)
    assert (
        model.answer_batch(wav, torch.ones(1), ["Is the tone high or low?"], **SHORT, **REFERENCE_DECODING) == expected
    )
    assert model.precision == "fp32" and model.description["stage"] == 3


def test_decoding_defaults_come_from_the_yaml_and_calls_override_them(model, folder):
    """answer_file uses hparams.decoding (the "answer" preset, as DIFFA2Model.answer); a call's options win."""
    assert model.hparams.decoding == preset("answer")
    assert model.hparams.transcribe_decoding == preset("transcribe", steps=32, gen_length=32, block_length=32)
    example = os.path.join(folder, "example.wav")
    question = "Is the tone high or low?"
    default = model.answer_file(example, question)
    explicit = model.answer_file(example, question, steps=16, gen_length=16, block_length=16, **EOS_STOP_DECODING)
    assert default == explicit
    wav = load_audio(example)[None]
    with torch.no_grad():  # one default everywhere: the model's own answer() decodes as the interface does
        assert model.model.answer(wav, torch.ones(1), [question])[0] == default
        slow = model.model.answer(wav, torch.ones(1), [question], **preset("answer-reference"))[0]
    # REFERENCE_DECODING turns every fast option off: the reference sampler.
    assert model.answer_file(example, question, **REFERENCE_DECODING) == slow
    assert isinstance(model.transcribe_file(example, **SHORT), str)
    assert (
        model.answer_files([example, example], "Which?", batch_size=2, **SHORT)[0]
        == model.answer_files([example], ["Which?"], **SHORT)[0]
    )


def test_bad_inputs_fail_clearly(model, folder, tmp_path):
    """Empty questions, missing and unreadable audio files name the problem."""
    example = os.path.join(folder, "example.wav")
    with pytest.raises(ValueError, match="question is empty"):
        model.answer_file(example, "")
    with pytest.raises(ValueError, match="question is empty"):
        model.answer_batch(torch.zeros(1, 800), torch.ones(1), ["\n"])
    with pytest.raises(AudioError, match="not found: .*nothing.wav"):
        model.answer_file(str(tmp_path / "nothing.wav"), "Which?")
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(AudioError, match="bad.wav"):
        model.answer_file(str(bad), "Which?")
    with pytest.raises(FileNotFoundError, match="Model folder not found"):
        DIFFA2.from_hparams(source=str(tmp_path / "no_model"))


def test_a_partial_checkpoint_is_refused(folder, tmp_path):
    """A model folder whose diffa2.ckpt lacks LoRA would silently answer with a fresh LoRA: refused."""
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("hyperparams.yaml", "example.wav"):
        (partial / name).write_bytes(open(os.path.join(folder, name), "rb").read())
    state = torch.load(os.path.join(folder, "diffa2.ckpt"), weights_only=True)
    torch.save({k: v for k, v in state.items() if "lora_" not in k}, partial / "diffa2.ckpt")
    with pytest.raises(ValueError, match="lacks .* tensors that a stage-3 model needs"):
        DIFFA2.from_hparams(source=str(partial))


def test_a_yaml_that_runs_other_code_is_refused_before_it_runs(folder, tmp_path):
    """A model folder from elsewhere cannot call os.makedirs (or anything outside the allow-list)."""
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "was_run"
    text = open(os.path.join(folder, "hyperparams.yaml"), encoding="utf-8").read()
    (evil / "hyperparams.yaml").write_text(text + f"\nboom: !apply:os.makedirs [{marker}]\n")
    with pytest.raises(PermissionError, match="os.makedirs"):
        DIFFA2.from_hparams(source=str(evil))
    assert not marker.exists()


def test_the_benchmark_runner_loads_a_model_folder(folder):
    """speechbrain_diffa.evaluation's --model path: load_answerer gives a DIFFA2 with a description."""
    from speechbrain_diffa.evaluation.runner import load_answerer

    answerer = load_answerer(folder)
    assert isinstance(answerer, DIFFA2)
    assert answerer.description["source"] == os.path.abspath(folder)
    assert len(answerer.answer_batch(torch.zeros(2, 8000), torch.ones(2), ["a?", "b?"], **SHORT)) == 2


def test_transcribe_files_equals_each_file_alone_and_checks_the_batch_size(model, folder, tmp_path):
    import soundfile

    example = os.path.join(folder, "example.wav")
    short = tmp_path / "short.wav"
    soundfile.write(short, load_audio(example)[:6000].numpy(), 16000)
    paths = [example, str(short)]
    batched = model.transcribe_files(paths, batch_size=2, **SHORT)
    assert batched == [model.transcribe_file(p, **SHORT) for p in paths]
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            model.transcribe_files(paths, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size must be a positive integer"):
            model.answer_files(paths, "Which?", batch_size=bad)


def test_bad_batches_and_questions_are_named_before_decoding(model):
    wav = torch.sin(torch.arange(8000) / 5.0)[None] * 0.3
    for lens in (torch.zeros(1), -torch.ones(1), torch.full((1,), float("nan")), torch.ones(2)):
        with pytest.raises(ValueError, match="wav_lens"):
            model.answer_batch(wav, lens, ["Which?"], **SHORT)
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.answer_batch(torch.full((1, 800), float("nan")), torch.ones(1), ["Which?"])
    with pytest.raises(ValueError, match="peaks at"):
        model.answer_batch(wav * 1e30, torch.ones(1), ["Which?"])
    with pytest.raises(ValueError, match="holds no audio"):
        model.answer_batch(torch.zeros(0, 800), torch.ones(0), [])
    with pytest.raises(TypeError, match="must be a str, got int"):
        model.answer_batch(wav, torch.ones(1), [123])
    with pytest.raises(ValueError, match="control token '<|eot_id|>'"):
        model.answer_batch(wav, torch.ones(1), ["Which?<|eot_id|>"], **SHORT)
    with pytest.raises(ValueError, match="positions, over the model's"):
        model.answer_batch(wav, torch.ones(1), ["word " * 40000], **SHORT)


def test_one_question_string_is_asked_of_every_clip(model):
    """A bare str for two clips was asked as the questions 'h' and 'i'."""
    wavs = torch.stack([torch.sin(torch.arange(8000) / 5.0), torch.sin(torch.arange(8000) / 9.0)]) * 0.3
    assert model.answer_batch(wavs, torch.ones(2), "Is it high?", **SHORT) == model.answer_batch(
        wavs, torch.ones(2), ["Is it high?", "Is it high?"], **SHORT
    )


def test_clips_shorter_than_the_encoder_needs_are_answered_as_alone(model):
    """Under 1,120 samples the semantic adapter had no frame left and the whole batch crashed."""
    short, long = torch.sin(torch.arange(600) / 5.0) * 0.3, torch.sin(torch.arange(8000) / 5.0) * 0.3
    alone = model.answer_batch(short[None], torch.ones(1), ["Which?"], **SHORT, **REFERENCE_DECODING)
    wavs, lens = batch_waveforms([long, short])
    together = model.answer_batch(wavs, lens, ["Which?", "Which?"], **SHORT, **REFERENCE_DECODING)
    assert together[1] == alone[0]


def test_audio_paths_go_through_load_audio_local_or_fetched(model, folder, tmp_path, monkeypatch):
    """answer_file/transcribe_file read through DIFFA2.load_audio: local files where they are, a hub path
    (``owner/repo/file.wav``, as SpeechBrain's Pretrained takes it) fetched first, a local typo never fetched."""
    import speechbrain.utils.fetching as fetching

    example = os.path.join(folder, "example.wav")
    asked = []

    def fake_fetch(filename, source, savedir=None, **kwargs):
        asked.append((source, filename))
        return example

    monkeypatch.setattr(fetching, "fetch", fake_fetch)
    assert torch.equal(model.load_audio("someone/clips/tone.wav"), load_audio(example))
    assert asked == [("someone/clips", "tone.wav")]
    assert model.answer_file("someone/clips/tone.wav", "Which?", **SHORT) == model.answer_file(
        example, "Which?", **SHORT
    )
    with pytest.raises(AudioError, match="not found: .*typo.wav"):  # its folder exists: a local file, not a hub path
        model.transcribe_file(str(tmp_path / "typo.wav"))
    assert len(asked) == 2

    def offline(filename, source, savedir=None, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(fetching, "fetch", offline)
    with pytest.raises(
        AudioError, match="someone/clips/gone.wav: not a local file, and fetching it failed: no network"
    ):
        model.answer_file("someone/clips/gone.wav", "Which?")


def test_compile_decodes_on_the_static_cache_with_the_same_answers(folder, model, monkeypatch):
    """run_opts={"compile": True}: the fast path runs on the static cache (CPU: no graphs), answers unchanged,
    and SpeechBrain's own compile (which would wrap a forward that decoding never calls) is not applied."""
    from speechbrain_diffa import static_cache
    from speechbrain_diffa.evaluation.runner import load_answerer

    passes = []
    original = static_cache.StaticBlockRunner.block_logits
    monkeypatch.setattr(
        static_cache.StaticBlockRunner, "block_logits", lambda self, *a: passes.append(1) or original(self, *a)
    )
    compiled = DIFFA2.from_hparams(source=folder, run_opts={"compile": True})
    assert compiled.compiled and type(compiled.mods.diffa) is type(model.mods.diffa)
    wavs, lens = torch.randn(2, 12000) * 0.1, torch.tensor([1.0, 0.5])
    questions = ["Is it high?", "How many beeps?"]
    for options in (dict(cache="dual", factor=0.5), dict(gen_length=8, steps=8, block_length=4)):
        decoding = {**SHORT, **options}
        passes.clear()
        assert compiled.answer_batch(wavs, lens, questions, **decoding) == model.answer_batch(
            wavs, lens, questions, **decoding
        )
        assert passes  # the yaml's decoding has the EOS stop: the fast path, on the static cache
    assert load_answerer(folder, compile=True).compiled
