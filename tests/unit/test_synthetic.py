"""Tests of the synthetic listening corpus: files and schemas, determinism, balance, held-out
separation, and that each answer really is in the audio."""

import collections
import json
import os
import re

import numpy as np
import pytest

from speechbrain_diffa.data.manifests import PREFERENCE_FIELDS, SFT_FIELDS, validated_records
from speechbrain_diffa.demo.synthetic import scenes as sc
from speechbrain_diffa.demo.synthetic import sounds, speech, tasks
from speechbrain_diffa.demo.synthetic.corpus import (
    TEST_FILE,
    build_corpus,
    plan_test_clips,
    plan_training_clips,
)
from speechbrain_diffa.evaluation.benchmarks import read_mmau
from speechbrain_diffa.prompts import PROMPTS, build_prompt

SR = sounds.SAMPLE_RATE
SIZES = {"num_train": 18, "num_valid": 9, "num_test": 24}
MANIFESTS = [f"{name}_{split}.json" for name in ("stage1_asr", "sft", "pref") for split in ("train", "valid")]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("synthetic"))
    info = build_corpus(folder, seed=0, **SIZES)
    return folder, info


def _load(folder, name):
    with open(os.path.join(folder, name), encoding="utf-8") as f:
        return json.load(f)


def test_every_manifest_validates(corpus):
    folder, info = corpus
    for name in MANIFESTS:
        fields = PREFERENCE_FIELDS if name.startswith("pref") else SFT_FIELDS
        records = validated_records(os.path.join(folder, name), fields, data_root=folder)
        assert len(records) == info["records"][name[: -len(".json")]] > 0
        assert all(0.5 <= r["duration"] <= 3.0 for r in records.values())


def test_held_out_test_loads_with_the_harness_reader(corpus):
    folder, _ = corpus
    data = read_mmau(folder, unofficial="the generated test")
    assert not data.problems and len(data.items) == SIZES["num_test"]
    assert {i.groups["task"] for i in data.items} == {"sound", "music", "speech"}
    for item in data.items:
        assert 2 <= len(item.choices) <= 5 and item.answer in item.choices
        assert len(set(item.choices)) == len(item.choices)


def test_mcq_inputs_are_the_harness_prompt(corpus):
    folder, _ = corpus
    mcq = [r for r in _load(folder, "sft_train.json") if r["id"].endswith("-mcq")]
    assert mcq
    for record in mcq:
        question = re.search(r"Question: (.*)\n", record["input"]).group(1)
        choices = re.findall(r"^[A-E]\. (.*)$", record["input"], flags=re.MULTILINE)
        assert record["input"] == build_prompt(PROMPTS["mmau"], question, choices)
        assert record["target"] in choices


def test_preference_rejected_is_a_different_answer_to_the_same_question(corpus):
    folder, _ = corpus
    for record in _load(folder, "pref_train.json"):
        qtype = tasks.QUESTION_TYPES_BY_NAME[record["question_type"]]
        phrases = {qtype.phrase_for(v) for v in qtype.values}
        assert record["chosen"] != record["rejected"] and {record["chosen"], record["rejected"]} <= phrases


def test_same_seed_same_bytes_other_seed_other_corpus(corpus, tmp_path):
    folder, _ = corpus
    build_corpus(str(tmp_path / "again"), seed=0, **SIZES)
    build_corpus(str(tmp_path / "other"), seed=1, **SIZES)
    for name in MANIFESTS + [TEST_FILE, "corpus_info.json"]:
        with open(os.path.join(folder, name), "rb") as a, open(tmp_path / "again" / name, "rb") as b:
            assert a.read() == b.read(), name
    first = _load(folder, "sft_train.json")[0]
    original = os.path.join(folder, first["audio_filepath"].replace("{data_root}", folder))
    again = tmp_path / "again" / first["audio_filepath"].replace("{data_root}/", "")
    with open(original, "rb") as a, open(again, "rb") as b:
        assert a.read() == b.read()
    assert _load(folder, TEST_FILE) != _load(str(tmp_path / "other"), TEST_FILE)


def test_no_clip_is_shared_between_training_and_test(corpus):
    folder, _ = corpus
    training = set()
    for name in MANIFESTS:
        training |= {r["audio_filepath"].replace("{data_root}/", "") for r in _load(folder, name)}
    test = {r["audio_id"][2:] for r in _load(folder, TEST_FILE)}
    assert not training & test
    digests = {}
    for path in training | test:
        with open(os.path.join(folder, path), "rb") as f:
            digests.setdefault(f.read()[44:], []).append(path)  # PCM after the WAV header
    assert all(len(paths) == 1 for paths in digests.values())


def test_test_answers_are_balanced_per_question_type():
    clips = plan_test_clips(12 * 40, seed=3)
    counts = collections.defaultdict(collections.Counter)
    for clip in clips:
        qtype = tasks.QUESTION_TYPES_BY_NAME[clip.question]
        counts[clip.question][clip.props[qtype.prop]] += 1
    assert set(counts) == set(tasks.QUESTION_TYPES_BY_NAME)
    for name, answers in counts.items():
        values = tasks.QUESTION_TYPES_BY_NAME[name].values
        assert set(answers) == set(values), name
        assert max(answers.values()) - min(answers.values()) <= 1, (name, answers)
    per_task = collections.Counter(tasks.QUESTION_TYPES_BY_NAME[c.question].task for c in clips)
    assert set(per_task.values()) == {160}


def test_training_properties_are_balanced():
    clips = plan_training_clips("train", 9 * 16, seed=0)
    for scene, prop, values in [("beeps", "count", sc.COUNTS), ("chord", "quality", sc.QUALITIES),
                                ("speech", "gender", sc.GENDERS), ("sequence", "first", sc.EVENTS)]:  # fmt: skip
        counts = collections.Counter(c.props[prop] for c in clips if c.scene == scene)
        assert set(counts) == set(values) and max(counts.values()) - min(counts.values()) <= 1


def test_question_type_selection_limits_the_test():
    clips = plan_test_clips(10, seed=0, question_types=tasks.select_question_types(["tempo", "beep_count"]))
    assert {c.question for c in clips} == {"tempo", "beep_count"}


def test_corpus_text_covers_every_word(corpus):
    folder, _ = corpus
    vocabulary = set(re.findall(r"\w+", tasks.corpus_text()))
    used = set()
    for name in MANIFESTS:
        for r in _load(folder, name):
            used |= set(re.findall(r"\w+", " ".join(r.get(k, "") for k in ("input", "target", "chosen", "rejected"))))
    for r in _load(folder, TEST_FILE):
        used |= set(re.findall(r"\w+", " ".join([r["question"]] + r["choices"])))
    assert used <= vocabulary, used - vocabulary


# ---- the answer is in the audio -------------------------------------------------------------


def _render(scene, props, seed=0):
    return sc.render(scene, props, np.random.default_rng(seed), speak=speech.formant_speech)


def _bursts(wave, frame=0.01):
    """Number of separate loud stretches (frames above 10 % of the peak RMS)."""
    hop = int(frame * SR)
    rms = np.sqrt(np.mean(wave[: len(wave) // hop * hop].reshape(-1, hop) ** 2, axis=1))
    loud = (rms > 0.1 * rms.max()).astype(int)
    return int(np.sum(np.diff(np.concatenate([[0], loud])) == 1))


def _dominant_hz(wave):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return np.fft.rfftfreq(len(wave), 1 / SR)[np.argmax(spectrum)]


@pytest.mark.parametrize("count", sc.COUNTS)
@pytest.mark.parametrize("pitch", sc.PITCHES)
def test_beep_count_is_the_number_of_bursts_and_pitch_is_heard(count, pitch):
    wave = _render("beeps", {"count": count, "pitch": pitch}, seed=sc.COUNTS.index(count))
    assert _bursts(wave) == sc.COUNTS.index(count) + 1
    assert (_dominant_hz(wave) > 1000) == (pitch == "high")


@pytest.mark.parametrize("direction", sc.DIRECTIONS)
def test_melody_pitch_track_follows_its_direction(direction):
    wave = _render("melody", {"direction": direction, "tempo": "slow"})
    voiced = speech.trim_silence(wave, threshold=0.05)
    notes = np.array_split(voiced, 5)
    track = [_dominant_hz(n[len(n) // 4 : 3 * len(n) // 4]) for n in notes]
    steps = np.diff(track)
    assert np.all(steps > 0) if direction == "rising" else np.all(steps < 0), track


def _note_changes(wave, frame=0.04):
    frames = [wave[i : i + int(frame * SR)] for i in range(0, len(wave) - int(frame * SR), int(frame * SR))]
    track = np.array([_dominant_hz(f) for f in frames])
    return int(np.sum(np.abs(np.diff(track)) > 0.03 * track[1:]))


def test_tempo_is_the_note_rate_not_the_length_and_speaking_rate_changes_duration():
    for seed in range(3):
        fast = _render("melody", {"direction": "rising", "tempo": "fast"}, seed=seed)
        slow = _render("melody", {"direction": "rising", "tempo": "slow"}, seed=seed)
        assert 0.75 < len(fast) / len(slow) < 1.35  # the length does not give the tempo away
        assert _note_changes(fast) >= 2 * _note_changes(slow) >= 2 * 3
    text = {"gender": "man", "kind": "digits", "number": "four", "text": "four one two"}
    assert len(_render("speech", dict(text, rate="slow"))) > 1.4 * len(_render("speech", dict(text, rate="fast")))


@pytest.mark.parametrize("louder", [True, False])
def test_loudness_ramp_direction(louder):
    wave = speech.trim_silence(_render("ramp", {"source": "noise", "loudness": "louder" if louder else "quieter"}))
    first, last = (np.sqrt(np.mean(half**2)) for half in np.array_split(wave, 2))
    assert (last > 3 * first) if louder else (first > 3 * last)


def _flatness(wave):
    """Spectral flatness: near 1 for white noise, near 0 for a tone."""
    power = np.abs(np.fft.rfft(wave)) ** 2 + 1e-12
    return np.exp(np.mean(np.log(power))) / np.mean(power)


def test_tone_is_narrowband_and_noise_is_not():
    tone = _render("ramp", {"source": "tone", "pitch": "low", "loudness": "louder"})
    noise = _render("ramp", {"source": "noise", "loudness": "louder"})
    assert _flatness(noise) > 100 * _flatness(tone)


@pytest.mark.parametrize("quality, third", [("major", 4), ("minor", 3)])
def test_chord_has_its_third(quality, third):
    wave = sounds.chord(60, quality, 1.0)
    spectrum = np.abs(np.fft.rfft(wave))
    freqs = np.fft.rfftfreq(len(wave), 1 / SR)

    def level(midi):
        return spectrum[np.argmin(np.abs(freqs - sounds.midi_to_hz(midi)))]

    assert level(60 + third) > 10 * level(60 + 7 - third)


def test_event_order_puts_the_first_event_first():
    wave = speech.trim_silence(_render("sequence", {"first": "noise", "second": "beep"}))
    first, second = np.array_split(wave, 2)
    assert 600 <= _dominant_hz(second) <= 1200  # the beep
    assert _flatness(first) > 100 * _flatness(second)  # the noise


def test_formant_voices_differ_in_pitch():
    def f0(wave):
        wave = wave - wave.mean()
        corr = np.correlate(wave[:4000], wave[:4000], "full")[3999:]
        lag = np.argmax(corr[SR // 400 : SR // 60]) + SR // 400
        return SR / lag

    man = speech.formant_speech("two", speech.Voice("man", "m3", 30, 150))
    woman = speech.formant_speech("two", speech.Voice("woman", "f3", 70, 150))
    assert f0(man) < 150 < f0(woman)


def test_missing_espeak_gives_an_install_hint_or_the_labelled_fallback(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="apt-get install -y espeak-ng"):
        speech.speech_engine("espeak-ng")
    assert speech.speech_engine("auto")[0] == "formant"


@pytest.mark.skipif(not speech.espeak_available(), reason="espeak-ng not installed")
def test_espeak_speech_is_16k_and_slower_when_slow():
    slow = speech.espeak_speech("three one four", speech.Voice("woman", "f2", 70, 120))
    fast = speech.espeak_speech("three one four", speech.Voice("woman", "f2", 70, 240))
    assert slow.dtype == np.float32 and len(slow) > 1.4 * len(fast) > 0.3 * SR
