"""Build the synthetic listening corpus: clips, stage 1-4 manifests and a held-out MMAU-style test.

Layout of ``folder`` (audio paths in manifests use ``{data_root}`` = ``folder``)::

    wav/{train,valid}/*.wav          training and validation clips (16 kHz mono)
    stage1_asr_{train,valid}.json    stage 1: speech -> transcript, other clips -> caption
    sft_{train,valid}.json           stages 2-3: open questions (short phrase) + MCQ (option text)
    pref_{train,valid}.json          stage 4: open questions with chosen / subtly wrong rejected
    mmau-test-mini.json              held-out test in the MMAU test-mini format ...
    test-mini-audios/*.wav           ... and its clips (read it with evaluation.benchmarks.read_mmau)
    asr-test/test-clean/*/0/*        held-out transcription test, LibriSpeech's layout (read_librispeech)
    corpus_text.txt                  every string the corpus can contain (tokenizer training)
    corpus_info.json                 seed, sizes, speech engine, question types, chance levels

Every clip is drawn from its own generator seeded by ``(seed, split, index)``; train, valid and
test use disjoint streams, and :func:`check_disjoint` refuses a test clip whose id, file or
waveform also occurs in training. Same seed, same manifests, byte for byte.

Authors
 * speechbrain_diffa contributors 2026
"""

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import soundfile
from speechbrain.utils.logger import get_logger
from tqdm import tqdm

from speechbrain_diffa.data.manifests import write_manifest
from speechbrain_diffa.demo.synthetic import scenes as sc
from speechbrain_diffa.demo.synthetic import tasks
from speechbrain_diffa.demo.synthetic.sounds import SAMPLE_RATE
from speechbrain_diffa.demo.synthetic.speech import speech_engine

logger = get_logger(__name__)

SPLIT_STREAMS = {"train": 1, "valid": 2, "test": 3, "asr_test": 4}  # disjoint seed streams
# Scenes of training clips, in turn: a third each of sound, music and speech (chords twice: they
# carry one, hard, question; melodies carry two easy ones).
TRAINING_SCENE_CYCLE = ("beeps", "melody", "speech", "ramp", "chord", "speech", "sequence", "chord", "speech")
TEST_AUDIO_DIR = "test-mini-audios"
TEST_FILE = "mmau-test-mini.json"
ASR_TEST_DIR = "asr-test"  # a LibriSpeech-shaped folder: asr-test/test-clean/<speaker>/<chapter>/
ASR_SPEAKERS = {"man": "1", "woman": "2"}  # LibriSpeech speaker ids are numbers


@dataclass
class Clip:
    """One clip to render: where it goes, its scene and properties; ``question`` only for the test.

    Example
    -------
    >>> Clip("train-00000-beeps", "train", 0, "beeps", {"count": "two", "pitch": "low"}).audio
    'wav/train/train-00000-beeps.wav'
    """

    id: str
    split: str
    index: int
    scene: str
    props: dict
    question: str = None
    duration: float = None
    digest: str = None

    @property
    def audio(self):
        """Path relative to the corpus folder."""
        if self.split == "asr_test":
            speaker = self.id.split("-")[0]
            return f"{ASR_TEST_DIR}/test-clean/{speaker}/0/{self.id}.flac"
        folder = TEST_AUDIO_DIR if self.split == "test" else f"wav/{self.split}"
        return f"{folder}/{self.id}.wav"


def training_scenes(question_types):
    """The scene cycle, without scenes none of ``question_types`` asks about (speech always stays: ASR).

    Example
    -------
    >>> training_scenes(tasks.select_question_types(["tempo"]))
    ('melody', 'speech', 'speech', 'speech')
    """
    asked = {scene for q in question_types for scene in q.scenes}
    return tuple(s for s in TRAINING_SCENE_CYCLE if s in asked or s == "speech")


def plan_training_clips(split, count, seed, question_types=tasks.QUESTION_TYPES):
    """The clips of a training split (``"train"`` or ``"valid"``), scenes in turn, properties balanced.

    Example
    -------
    >>> [c.scene for c in plan_training_clips("train", 4, seed=0)]
    ['beeps', 'melody', 'speech', 'ramp']
    """
    rng = np.random.default_rng([seed, SPLIT_STREAMS[split]])
    draws = sc.BalancedDraws(rng)
    cycle = training_scenes(question_types)
    clips = []
    for index in range(count):
        scene = cycle[index % len(cycle)]
        props = sc.sample_properties(scene, draws, rng)
        clips.append(Clip(f"{split}-{index:05d}-{scene}", split, index, scene, props))
    return clips


def plan_test_clips(count, seed, question_types=tasks.QUESTION_TYPES):
    """Held-out clips, one question each: tasks in turn, question types in turn within a task,
    answers in balanced rounds within a question type.

    Example
    -------
    >>> clips = plan_test_clips(3, seed=0)
    >>> [c.question for c in clips], clips[0].props["count"] in ("one", "two", "three", "four")
    (['beep_count', 'melody_direction', 'speaker_gender'], True)
    """
    rng = np.random.default_rng([seed, SPLIT_STREAMS["test"]])
    draws = sc.BalancedDraws(rng)
    by_task = {t: [q for q in question_types if q.task == t] for t in tasks.TASKS}
    active = [t for t in tasks.TASKS if by_task[t]]
    turns = dict.fromkeys(active, 0)
    clips = []
    for index in range(count):
        task = active[index % len(active)]
        qtype = by_task[task][turns[task] % len(by_task[task])]
        turns[task] += 1
        fixed = dict(qtype.requires, **{qtype.prop: draws.draw(("answer", qtype.name), qtype.values)})
        scene = qtype.scenes[0]
        props = sc.sample_properties(scene, draws, rng, fixed=fixed)
        clips.append(Clip(f"test-{index:05d}-{qtype.name}", "test", index, scene, props, question=qtype.name))
    return clips


def plan_asr_test_clips(count, seed):
    """Held-out speech for the transcription test: digit strings and sentences, voices and rates balanced.

    Ids are LibriSpeech's ``<speaker>-<chapter>-<utterance>`` (speaker 1: men, 2: women; chapter 0).

    Example
    -------
    >>> clips = plan_asr_test_clips(4, seed=0)
    >>> sorted(c.props["kind"] for c in clips), clips[0].audio.startswith("asr-test/test-clean/")
    (['digits', 'digits', 'sentence', 'sentence'], True)
    """
    rng = np.random.default_rng([seed, SPLIT_STREAMS["asr_test"]])
    draws = sc.BalancedDraws(rng)
    clips = []
    for index in range(count):
        props = sc.sample_properties("speech", draws, rng)
        clip_id = f"{ASR_SPEAKERS[props['gender']]}-0-{index:04d}"
        clips.append(Clip(clip_id, "asr_test", index, "speech", props))
    return clips


def write_asr_test(clips, folder):
    """The transcription test's ``<speaker>-0.trans.txt`` files (upper-case transcripts, LibriSpeech's form).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> write_asr_test([Clip("2-0-0000", "asr_test", 0, "speech", {"text": "seven two"})], folder)
    >>> open(os.path.join(folder, ASR_TEST_DIR, "test-clean", "2", "0", "2-0.trans.txt")).read()
    '2-0-0000 SEVEN TWO\\n'
    """
    by_file = {}
    for clip in clips:
        speaker_chapter = clip.id.rsplit("-", 1)[0]  # LibriSpeech names the file after the utterances' prefix
        path = os.path.join(folder, os.path.dirname(clip.audio), f"{speaker_chapter}.trans.txt")
        by_file.setdefault(path, []).append(clip)
    for path, chapter_clips in by_file.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(f"{c.id} {c.props['text'].upper()}\n" for c in chapter_clips)


def render_clip(clip, folder, seed, speak):
    """Render ``clip`` to ``folder/clip.audio``; sets its duration (s) and waveform digest.

    Example
    -------
    >>> clip = plan_training_clips("train", 1, seed=0)[0]
    >>> render_clip(clip, getfixture("tmpdir").strpath, seed=0, speak=None)
    >>> 0.5 < clip.duration < 3.0
    True
    """
    rng = np.random.default_rng([seed, SPLIT_STREAMS[clip.split], clip.index])
    wave = sc.render(clip.scene, clip.props, rng, speak)
    pcm = np.round(np.clip(wave, -1.0, 1.0) * 32767).astype("<i2")
    path = os.path.join(folder, clip.audio)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, pcm, SAMPLE_RATE, subtype="PCM_16")  # wav or flac, by the extension
    clip.duration = round(len(pcm) / SAMPLE_RATE, 4)
    clip.digest = hashlib.sha1(pcm.tobytes()).hexdigest()


def stage1_records(clips):
    """Stage 1: speech clips -> transcript (ASR prompt), other clips -> caption.

    Example
    -------
    >>> clip = Clip("c", "train", 0, "beeps", {"count": "two", "pitch": "low"}, duration=1.0)
    >>> [(r["id"], r["target"]) for r in stage1_records([clip])]
    [('c-caption', 'two low beeps')]
    """
    records = []
    for clip in clips:
        speech = clip.scene == "speech"
        records.append({
            "id": f"{clip.id}-{'asr' if speech else 'caption'}",
            **_audio_fields(clip),
            "input": tasks.TRANSCRIBE_PROMPT if speech else tasks.CAPTION_PROMPT,
            "target": sc.caption(clip.scene, clip.props),
            "task": sc.SCENE_TASKS[clip.scene],
        })  # fmt: skip
    return records


def sft_records(clips, question_types, rng):
    """Stages 2-3: every applicable question per clip, open (phrase) and multiple choice (option).

    Example
    -------
    >>> clip = Clip("c", "train", 0, "melody", {"direction": "rising", "tempo": "fast"}, duration=1.0)
    >>> recs = sft_records([clip], tasks.QUESTION_TYPES, np.random.default_rng(0))
    >>> [(r["id"], r["target"]) for r in recs]  # doctest: +NORMALIZE_WHITESPACE
    [('c-melody_direction-open', 'a rising melody'), ('c-melody_direction-mcq', 'rising'),
     ('c-tempo-open', 'a fast tempo'), ('c-tempo-mcq', 'fast')]
    """
    records = []
    for clip in clips:
        for qtype in question_types:
            if not qtype.applies_to(clip.scene, clip.props):
                continue
            answer = clip.props[qtype.prop]
            base = {**_audio_fields(clip), "task": qtype.task, "question_type": qtype.name}
            records.append({"id": f"{clip.id}-{qtype.name}-open", **base, "input": qtype.question,
                            "target": qtype.phrase_for(answer)})  # fmt: skip
            choices = tasks.mcq_choices(qtype, answer, rng)
            records.append({"id": f"{clip.id}-{qtype.name}-mcq", **base,
                            "input": tasks.format_mcq(qtype.question, choices), "target": answer})  # fmt: skip
    return records


def preference_records(clips, question_types, rng):
    """Stage 4: every applicable open question per clip; ``rejected`` states a subtly wrong fact.

    Example
    -------
    >>> clip = Clip("c", "train", 0, "beeps", {"count": "three", "pitch": "low"}, duration=1.0)
    >>> rec = preference_records([clip], tasks.QUESTION_TYPES, np.random.default_rng(0))[0]
    >>> rec["chosen"], rec["rejected"] in ("two beeps", "four beeps")
    ('three beeps', True)
    """
    records = []
    for clip in clips:
        for qtype in question_types:
            if not qtype.applies_to(clip.scene, clip.props):
                continue
            records.append({
                "id": f"{clip.id}-{qtype.name}-pref",
                **_audio_fields(clip),
                "input": qtype.question,
                "chosen": qtype.phrase_for(clip.props[qtype.prop]),
                "rejected": qtype.phrase_for(tasks.wrong_value(qtype, clip.props, rng)),
                "task": qtype.task,
                "question_type": qtype.name,
            })  # fmt: skip
    return records


def mmau_test_records(clips, rng, dataset):
    """The held-out test in the MMAU test-mini format (one question per clip).

    Example
    -------
    >>> clip = plan_test_clips(1, seed=0)[0]
    >>> rec = mmau_test_records([clip], np.random.default_rng(0), "synthetic")[0]
    >>> rec["task"], rec["answer"] in rec["choices"], rec["audio_id"]
    ('sound', True, './test-mini-audios/test-00000-beep_count.wav')
    """
    records = []
    for clip in clips:
        qtype = tasks.QUESTION_TYPES_BY_NAME[clip.question]
        answer = clip.props[qtype.prop]
        records.append({
            "id": clip.id,
            "audio_id": f"./{clip.audio}",
            "question": qtype.question,
            "choices": tasks.mcq_choices(qtype, answer, rng),
            "answer": answer,
            "dataset": dataset,
            "task": qtype.task,
            "split": "test-mini",
            "category": qtype.category,
            "sub-category": qtype.sub_category,
            "difficulty": qtype.difficulty,
            "question_type": qtype.name,
        })  # fmt: skip
    return records


def _audio_fields(clip):
    """``audio_filepath`` (with ``{data_root}``) and ``duration`` of a rendered clip."""
    return {"audio_filepath": "{data_root}/" + clip.audio, "duration": clip.duration}


def check_disjoint(training_clips, test_clips):
    """Refuse a test clip that shares an id, file or waveform with a training clip.

    Example
    -------
    >>> a = Clip("x", "train", 0, "chord", {}, digest="d1")
    >>> b = Clip("y", "test", 0, "chord", {}, digest="d1")
    >>> check_disjoint([a], [b])
    Traceback (most recent call last):
    ...
    ValueError: 1 held-out clips overlap training (same id, file or waveform): ['y']
    """
    seen = {key for c in training_clips for key in (c.id, c.audio, c.digest) if key is not None}
    overlap = [c.id for c in test_clips if {c.id, c.audio, c.digest} & seen]
    if overlap:
        raise ValueError(f"{len(overlap)} held-out clips overlap training (same id, file or waveform): {overlap[:10]}")


def chance_levels(question_types, test_clips):
    """Expected accuracy of random guessing on the test, overall and per task.

    Example
    -------
    >>> chance_levels(tasks.QUESTION_TYPES, plan_test_clips(3, seed=0))
    {'overall': 0.4167, 'sound': 0.25, 'music': 0.5, 'speech': 0.5}
    """
    chances = {q.name: q.chance for q in question_types}
    per_task = {}
    for clip in test_clips:
        per_task.setdefault(tasks.QUESTION_TYPES_BY_NAME[clip.question].task, []).append(chances[clip.question])
    every = [c for values in per_task.values() for c in values]
    levels = {"overall": round(float(np.mean(every)), 4)} if every else {}
    levels.update({t: round(float(np.mean(v)), 4) for t, v in per_task.items()})
    return levels


def build_corpus(
    folder,
    seed=0,
    num_train=1500,
    num_valid=150,
    num_test=300,
    num_asr_test=0,
    question_types=None,
    speech="auto",
    num_threads=2,
    progress=False,
):
    """Generate the whole corpus into ``folder`` (see the module docstring for the layout).

    Arguments
    ---------
    folder : str
        Output folder (created; existing files are overwritten).
    seed : int
        Everything is determined by it.
    num_train, num_valid, num_test : int
        Clips per split (training clips carry several questions each; test clips one).
    num_asr_test : int
        Utterances of the held-out transcription test (:func:`plan_asr_test_clips`; 0: none).
    question_types : list of str
        Names of the question types to include (default: all of :data:`tasks.QUESTION_TYPES`).
    speech : str
        Speech engine: ``"auto"``, ``"espeak-ng"`` or ``"formant"`` (the labelled fallback).
    num_threads : int
        Clips rendered at once (threads: espeak-ng runs as a subprocess and numpy releases the
        GIL). The output does not depend on it: every clip has its own generator.
    progress : bool
        Show a progress bar.

    Returns
    -------
    dict
        The contents of ``corpus_info.json``.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import read_librispeech
    >>> folder = getfixture("tmpdir").strpath
    >>> info = build_corpus(folder, num_train=9, num_valid=3, num_test=6, num_asr_test=2, speech="formant")
    >>> info["clips"], info["records"]["test"], info["speech_engine"]
    ({'train': 9, 'valid': 3, 'test': 6, 'asr_test': 2}, 6, 'formant')
    >>> len(read_librispeech(os.path.join(folder, ASR_TEST_DIR)).items)
    2
    """
    qtypes = tasks.select_question_types(question_types)
    engine, speak = speech_engine(speech)
    splits = {
        "train": plan_training_clips("train", num_train, seed, qtypes),
        "valid": plan_training_clips("valid", num_valid, seed, qtypes),
        "test": plan_test_clips(num_test, seed, qtypes),
        "asr_test": plan_asr_test_clips(num_asr_test, seed),
    }
    every = [clip for clips in splits.values() for clip in clips]
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        jobs = pool.map(lambda clip: render_clip(clip, folder, seed, speak), every)
        for _ in tqdm(jobs, total=len(every), desc="synthetic clips", disable=not progress, unit="clip"):
            pass
    check_disjoint(splits["train"] + splits["valid"], splits["test"] + splits["asr_test"])
    if splits["asr_test"]:
        write_asr_test(splits["asr_test"], folder)
    counts = {}
    for split in ("train", "valid"):
        rng = np.random.default_rng([seed, SPLIT_STREAMS[split], len(splits[split])])
        manifests = {
            "stage1_asr": stage1_records(splits[split]),
            "sft": sft_records(splits[split], qtypes, rng),
            "pref": preference_records(splits[split], qtypes, rng),
        }
        for name, records in manifests.items():
            write_manifest(records, os.path.join(folder, f"{name}_{split}.json"))
            counts[f"{name}_{split}"] = len(records)
    rng = np.random.default_rng([seed, SPLIT_STREAMS["test"], len(splits["test"])])
    dataset = f"speechbrain_diffa.demo.synthetic (speech: {engine})"
    test = mmau_test_records(splits["test"], rng, dataset)
    with open(os.path.join(folder, TEST_FILE), "w", encoding="utf-8") as f:
        json.dump(test, f, indent=1, ensure_ascii=False)
    counts["test"] = len(test)
    with open(os.path.join(folder, "corpus_text.txt"), "w", encoding="utf-8") as f:
        f.write(tasks.corpus_text([q.name for q in qtypes]))
    info = corpus_info(seed, splits, counts, qtypes, engine)
    with open(os.path.join(folder, "corpus_info.json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=1)
    logger.info(f"Synthetic corpus in {folder}: {info['clips']} clips, speech from {engine}")
    return info


def corpus_info(seed, splits, counts, question_types, engine):
    """What was built: sizes, speech engine, question types with answers and chance, test chance.

    Example
    -------
    >>> info = corpus_info(0, {"test": []}, {}, tasks.QUESTION_TYPES[:1], "formant")
    >>> info["question_types"]["beep_count"]["chance"]
    0.25
    """
    return {
        "seed": seed,
        "speech_engine": engine,
        "clips": {split: len(clips) for split, clips in splits.items()},
        "records": counts,
        "question_types": {
            q.name: {
                "task": q.task,
                "question": q.question,
                "answers": list(q.values),
                "choices": q.num_choices or len(q.values),
                "chance": round(q.chance, 4),
            }
            for q in question_types
        },  # fmt: skip
        "test_chance": chance_levels(question_types, splits["test"]),
    }
