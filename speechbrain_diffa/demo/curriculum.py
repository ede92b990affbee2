"""One command that runs the whole DIFFA-2 curriculum on a generated corpus and shows it learn.

::

    python -m speechbrain_diffa.demo --output results/demo       # under 20 minutes on 2 CPU cores (docs/demo.md)

What it does, in order (each step is skipped when its output already exists, so a rerun resumes):

1. generates the listening corpus (:mod:`speechbrain_diffa.demo.synthetic`), its held-out test in
   the MMAU test-mini format and its held-out transcription test in LibriSpeech's layout;
2. pretrains the two stand-ins the curriculum freezes: a tiny Whisper-shaped encoder (word CTC
   on the stage-1 captions and transcripts, plus clip tags from the training answers, see
   :func:`clip_tags`) and a tiny LLaDA (masked-diffusion LM on the corpus text, copy chats and
   question chats: it knows the words and the chat layout, reads text out of the audio slot and
   answers a question from what the slot says), saved in the releases' folder layouts;
3. runs stages 1 to 4 through the real recipe (``recipes/DIFFA2/train.py`` with the full-scale
   stage YAMLs, sized down by command-line overrides only; stages 1-3 with ``train_gen_length``,
   see :class:`DemoSettings`; each stage's training manifest: :func:`write_stage_manifest`);
4. exports each stage's model, scores it on the held-out test with the MMAU scorer and on the
   transcription test with the LibriSpeech WER report (:mod:`speechbrain_diffa.evaluation`), and
   measures the preference margin of stages 3 and 4;
5. answers one test clip through the inference interface (reference and fast decoding);
6. prints the table and writes it to ``demo_summary.json``.

The held-out test clips are generated from their own seed stream and checked disjoint from
training (:func:`speechbrain_diffa.demo.synthetic.corpus.check_disjoint`); no step trains on them.

Authors
 * speechbrain_diffa contributors 2026
"""

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import torch

from speechbrain_diffa.decoding_presets import FAST_DECODING, preset
from speechbrain_diffa.evaluation.decoding_benchmark import CONFIGS

STAGES = (
    (1, "stage1_semantic"),
    (2, "stage2_acoustic"),
    (3, "stage3_sft"),
    (4, "stage4_vrpo"),
)
TASKS = ("sound", "music", "speech")
SUMMARY_FILE = "demo_summary.json"


# One question type per task, so that stage 3 learns all three in the demo's few minutes of training
# on two cores (the corpus has twelve; see docs/demo.md).
DEMO_QUESTION_TYPES = ("pitch_level", "tempo", "speaker_gender")


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and schedules of one demo run (:data:`FULL` is the one in docs/demo.md; :data:`QUICK` the test's).

    Attributes
    ----------
    num_train, num_valid, num_test : int
        Corpus clips per split.
    num_asr_test : int
        Utterances of the held-out transcription test (digit strings and sentences, both voices and
        rates; :func:`~speechbrain_diffa.demo.synthetic.corpus.plan_asr_test_clips`).
    whisper_steps, llada_steps : int
        Stand-in pretraining steps (at 2000 and 1600, the Whisper stand-in misheard single digits and the LLaDA
        stand-in copied new digit strings worse: docs/demo.md, "Stage 1 reads digit strings").
    whisper_units : str
        What the Whisper stand-in's CTC head spells, ``"characters"`` or ``"words"``
        (:func:`~speechbrain_diffa.demo.standins.pretrain_whisper_standin`).
    whisper_repeats : int
        Times each word's label stands in the Whisper stand-in's CTC target, so that it marks a word
        over its span, as Whisper's features do, not on one frame (docs/demo.md, "Stage 1 reads
        sentences from a word-spreading Whisper stand-in").
    whisper_tag_weight : float
        Weight of the Whisper stand-in's clip-tag loss against its CTC loss (at 10, the CTC head
        did not learn to recognise speech in 1400 steps: docs/demo.md, "Stage 1 learns sentences,
        2026-12-03 (morning)").
    whisper_lr : float
        The Whisper stand-in's peak learning rate (at 2e-3 its own CTC head dropped most digits
        after the first of a digit string: docs/demo.md, "Stage 1 learns sentences, not digit strings").
    llada_chats : int
        Training questions (the first of ``sft_train.json``) the LLaDA stand-in sees as question chats.
    llada_lr : float
        The LLaDA stand-in's peak learning rate (at 3e-3 it answered every question chat from the
        question alone, never from the slot: docs/demo.md, "Stage 2 answers from the audio").
    llada_layers : int
        The LLaDA stand-in's depth. Reading a digit string out of the audio slot in order takes
        more than two layers: copying the held-out transcripts from ideal slots, a 2-layer stand-in
        wrote the digit strings at 69 % WER, a 3-layer one at 55 %, a 4-layer one at 21 %
        (docs/demo.md, "Stage 1 and the digit strings").
    llada_copy : float
        Share of the LLaDA stand-in's batch rows, outside its question chats, that are copy chats
        (stage-1 training transcripts in the audio slot; :func:`~speechbrain_diffa.demo.standins.copy_chat`);
        0: none.
    llada_drills : int
        Digit-string drills the LLaDA stand-in copies besides the training transcripts: training digit-string
        clips' copy chats with random digits (:func:`digit_drills`); 0: none. The 259 training strings of three
        digits were 221 of a thousand, and the stand-in recalled those instead of reading the slot: from ideal
        slots, 1 of 30 new three-digit strings right (docs/demo.md, "Stage 1 reads digit strings").
    llada_drill_fraction : float
        Probability that a row of the LLaDA stand-in's batch, outside its question chats, is a drill.
    llada_questions : float
        Probability that a row of the LLaDA stand-in's batch is a question chat instead (a training
        question whose clip is described in the audio slot: :func:`question_specs`,
        :func:`~speechbrain_diffa.demo.standins.question_chat`); 0: none. The stand-in sees no
        question without its slot filled: with such chats in its text it answered from the question
        alone, and stage 2, whose LLM is frozen, could not make it listen.
    epochs : tuple of int
        Epochs of stages 1-4 (stage 1's training loss still fell at 12: docs/demo.md, "Stage 1 reads digit
        strings").
    lrs : tuple of float
        Peak learning rates of stages 1-4 (tiny models take far larger ones than the 8B model).
    batch_size : int
        Batch of stages 1-3 (stage 4 uses half: each item is a chosen/rejected pair).
    question_types : tuple of str
        Question types of the corpus (None: all twelve).
    train_gen_length : int
        Stages 1-3 train on batches laid out as the scorer decodes them (answers left-aligned in
        16-token regions): every answer here is one word, and with right padding the EOS tail's
        length gave the question type away, so the model answered from it, not from the question.
    decay_steps : int
        Steps over which the LR would decay to 0; the demo's stages are far shorter, so the LR
        stays near its peak (the tiny model learns to use the audio only after a few hundred
        steps at a high LR).
    preference_items : int
        Preference pairs stage 4 trains on (a subset of ``pref_train.json``).
    margin_items : int
        Validation pairs the preference margin is measured on.
    eval_batch : int
        Test items decoded at once.
    mask_padding : bool
        Every stage trains each clip on its own audio block, as decoding sees it (the stage YAMLs'
        ``mask_padding``). Trained as the release trains (False), a short clip also read the
        encoder frames past its end, and on some seeds the model learned pitch and tempo from
        those frames only, which decoding never shows it (docs/demo.md, "Why some seeds failed").
    """

    num_train: int = 3000
    num_valid: int = 150
    num_test: int = 300
    num_asr_test: int = 200
    whisper_steps: int = 3000
    whisper_units: str = "words"
    whisper_repeats: int = 3
    whisper_tag_weight: float = 1.0
    whisper_lr: float = 5e-3
    llada_steps: int = 2400
    llada_chats: int = 2000
    llada_lr: float = 1e-3
    llada_layers: int = 4
    llada_copy: float = 0.8
    llada_drills: int = 3000
    llada_drill_fraction: float = 0.3
    llada_questions: float = 0.35
    epochs: tuple = (20, 1, 1, 1)
    lrs: tuple = (3e-3, 2e-3, 3e-3, 2e-4)
    batch_size: int = 16
    question_types: tuple = DEMO_QUESTION_TYPES
    decay_steps: int = 5000
    train_gen_length: int = 16
    preference_items: int = 512
    margin_items: int = 64
    eval_batch: int = 32
    mask_padding: bool = True


FULL = DemoSettings()
QUICK = DemoSettings(
    num_train=45,
    num_valid=9,
    num_test=12,
    num_asr_test=6,
    whisper_steps=10,
    llada_steps=10,
    llada_chats=50,
    llada_layers=2,  # the test's 10 steps learn nothing at any depth; two layers are quicker to build
    epochs=(1, 1, 1, 1),
    batch_size=8,
    preference_items=8,
    margin_items=4,
    eval_batch=12,
)


def recipe_folder():
    """The DIFFA-2 recipe the demo runs (the real ``train.py`` and stage YAMLs, not a copy).

    In a checkout that is ``recipes/DIFFA2``; an installed wheel carries the same files as
    ``speechbrain_diffa/demo/recipe`` (``pyproject.toml`` maps one onto the other).

    Example
    -------
    >>> os.path.isfile(os.path.join(recipe_folder(), "train.py"))
    True
    """
    package = os.path.dirname(os.path.abspath(__file__))
    candidates = (
        os.path.join(os.path.dirname(os.path.dirname(package)), "recipes", "DIFFA2"),  # checkout
        os.path.join(package, "recipe"),  # wheel
    )
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "train.py")):
            return folder
    raise FileNotFoundError(
        f"The DIFFA-2 recipe is in neither {candidates[0]} nor {candidates[1]}: reinstall speechbrain_diffa "
        "(pip install . carries the recipe) or run from a checkout"
    )


def _log(message):
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def build_data(folder, settings, seed):
    """Generate the corpus into ``folder`` (skipped when ``corpus_info.json`` is there)."""
    from speechbrain_diffa.demo.synthetic import build_corpus

    info_path = os.path.join(folder, "corpus_info.json")
    if os.path.isfile(info_path):
        with open(info_path, encoding="utf-8") as f:
            clips = json.load(f)["clips"]
        if clips.get("asr_test", 0) == settings.num_asr_test:
            _log(f"corpus: reusing {folder}")
            return
        # Each split has its own seed stream: generating again gives the same training clips, so
        # stand-ins and stages already trained on this folder stay valid.
        _log(f"corpus: {folder} has no {settings.num_asr_test}-utterance transcription test; generating it again")
    _log(f"corpus: generating {settings.num_train}/{settings.num_valid}/{settings.num_test} clips into {folder}")
    build_corpus(folder, seed, settings.num_train, settings.num_valid, settings.num_test,
                 question_types=settings.question_types, num_asr_test=settings.num_asr_test,
                 progress=True)  # fmt: skip


def build_standins(data, models, settings, seed, backbone="diffusion"):
    """Pretrain the Whisper stand-in and the language stand-in into ``models/`` (skipped when there).

    The language stand-in is a tiny LLaDA (``models/llada``) or, for the autoregressive control,
    a causal Llama (``models/ar``) pretrained on the same text with the same batches and steps.

    Returns
    -------
    dict
        ``whisper`` and ``llm`` folders, and the seconds each took.
    """
    from speechbrain_diffa.data.audio import load_audio
    from speechbrain_diffa.data.manifests import read_manifest
    from speechbrain_diffa.demo.standins import (
        pretrain_causal_standin,
        pretrain_llada_standin,
        pretrain_whisper_standin,
    )

    llm_folder = os.path.join(models, "llada" if backbone == "diffusion" else "ar")
    paths = {"whisper": os.path.join(models, "whisper"), "llm": llm_folder}
    seconds = {}
    if not os.path.isfile(os.path.join(paths["whisper"], "config.json")):
        records = read_manifest(os.path.join(data, "stage1_asr_train.json"))
        waveforms = [load_audio(r["audio_filepath"].replace("{data_root}", data)) for r in records]
        by_clip = clip_tags(os.path.join(data, "sft_train.json"))
        tags = [by_clip.get(r["audio_filepath"], {}) for r in records]
        _log(
            f"Whisper stand-in: {settings.whisper_steps} steps ({settings.whisper_units} CTC, each label "
            f"x{settings.whisper_repeats}, + clip tags) on {len(records)} clips"
        )
        start = time.time()
        pretrain_whisper_standin(paths["whisper"], waveforms, [r["target"] for r in records],
                                 steps=settings.whisper_steps, lr=settings.whisper_lr, window_seconds=4, seed=seed,
                                 tags=tags, tag_weight=settings.whisper_tag_weight,
                                 units=settings.whisper_units, repeats=settings.whisper_repeats)  # fmt: skip
        seconds["whisper"] = round(time.time() - start, 1)
    if not os.path.isfile(os.path.join(paths["llm"], "config.json")):
        texts = standin_texts(data)
        transcripts = copy_transcripts(os.path.join(data, "stage1_asr_train.json")) if settings.llada_copy else None
        questions = question_specs(data, settings.llada_chats) if settings.llada_questions else None
        drills = digit_drills(transcripts or [], settings.llada_drills, seed)
        kind = "LLaDA stand-in: masked-diffusion" if backbone == "diffusion" else "causal stand-in: next-token"
        copies = f", {len(transcripts)} copy chats" if transcripts else ""
        copies += f", {len(drills)} digit-string drills" if drills else ""
        copies += f", {len(questions)} question chats" if questions else ""
        _log(f"{kind} steps: {settings.llada_steps} on {len(texts)} lines of corpus text{copies}")
        start = time.time()
        pretrain = pretrain_llada_standin if backbone == "diffusion" else pretrain_causal_standin
        pretrain(paths["llm"], texts, steps=settings.llada_steps, lr=settings.llada_lr, seed=seed,
                 n_layers=settings.llada_layers, transcripts=transcripts, copy_fraction=settings.llada_copy,
                 drills=drills, drill_fraction=settings.llada_drill_fraction,
                 questions=questions, question_fraction=settings.llada_questions)  # fmt: skip
        seconds["llm"] = round(time.time() - start, 1)
    return {**paths, "seconds": seconds}


def copy_transcripts(manifest):
    """The stage-1 training transcripts as ``(instruction, transcript, seconds)``: the LLaDA stand-in's copy chats.

    Only speech clips (captions describe a sound; nothing in the audio spells them); only the training manifest.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_diffa.data.manifests import write_manifest
    >>> path = os.path.join(tempfile.mkdtemp(), "asr.json")
    >>> write_manifest([{"id": "a-asr", "audio_filepath": "a.wav", "duration": 1.2, "input": "Transcribe.",
    ...                  "target": "seven two"},
    ...                 {"id": "b-caption", "audio_filepath": "b.wav", "duration": 0.8, "input": "What is it?",
    ...                  "target": "two low beeps"}], path)
    >>> copy_transcripts(path)
    [('Transcribe.', 'seven two', 1.2)]
    """
    return [(r["input"], r["target"], float(r["duration"])) for r in transcript_records(manifest)]


def digit_drills(transcripts, count, seed=0):
    """``count`` digit strings made up for the LLaDA stand-in to copy: each a random training digit-string clip's
    ``(instruction, transcript, seconds)`` with its digits drawn again at random (as many, same clip length).

    Text only: a stand-in for what a pretrained LLM has read (every digit string), not for what it heard. The
    held-out clips stay unheard; their strings are among the drills by chance only, as among any LLM's text.

    Example
    -------
    >>> drills = digit_drills([("Transcribe.", "seven two", 1.2), ("Transcribe.", "the cat runs", 2.0)], 3)
    >>> [(instruction, len(text.split()), seconds) for instruction, text, seconds in drills]
    [('Transcribe.', 2, 1.2), ('Transcribe.', 2, 1.2), ('Transcribe.', 2, 1.2)]
    >>> digit_drills([("Transcribe.", "the cat runs", 2.0)], 3)  # no digit string to lay them as
    []
    """
    import random

    from speechbrain_diffa.demo.synthetic.scenes import DIGITS

    clips = [spec for spec in transcripts if transcript_kind(spec[1]) == "digits"]
    if not clips or count <= 0:
        return []
    rng = random.Random(seed)
    drills = []
    for _ in range(count):
        instruction, text, seconds = rng.choice(clips)
        drills.append((instruction, " ".join(rng.choice(DIGITS) for _ in text.split()), seconds))
    return drills


def transcript_records(manifest):
    """The records of a stage-1 manifest that are transcripts of speech clips (``-asr`` ids), not captions.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_diffa.data.manifests import write_manifest
    >>> path = os.path.join(tempfile.mkdtemp(), "asr.json")
    >>> write_manifest([{"id": "a-asr", "audio_filepath": "a.wav", "input": "Transcribe.", "target": "seven"},
    ...                 {"id": "b-caption", "audio_filepath": "b.wav", "input": "What?", "target": "a beep"}], path)
    >>> [r["id"] for r in transcript_records(path)]
    ['a-asr']
    """
    from speechbrain_diffa.data.manifests import read_manifest

    return [r for r in read_manifest(manifest) if r["id"].endswith("-asr")]


def question_specs(data, count):
    """The first ``count`` training questions as ``(question, answer, description, traits, seconds)``.

    The LLaDA stand-in's question chats (:func:`~speechbrain_diffa.demo.standins.question_chat`):
    each clip described by its stage-1 target (caption or transcript) and its traits (its
    multiple-choice answers, :func:`clip_tags`). Training manifests only.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_diffa.data.manifests import write_manifest
    >>> data = tempfile.mkdtemp()
    >>> write_manifest([{"id": "a-caption", "audio_filepath": "a.wav", "duration": 0.8, "input": "What is it?",
    ...                  "target": "two high beeps"}], os.path.join(data, "stage1_asr_train.json"))
    >>> write_manifest([{"id": "a-mcq", "audio_filepath": "a.wav", "duration": 0.8, "input": "High or low?",
    ...                  "target": "high", "question_type": "pitch_level"}], os.path.join(data, "sft_train.json"))
    >>> question_specs(data, 10)
    [('High or low?', 'high', 'two high beeps', ['high'], 0.8)]
    """
    from speechbrain_diffa.data.manifests import read_manifest

    described = {r["audio_filepath"]: r["target"] for r in read_manifest(os.path.join(data, "stage1_asr_train.json"))}
    traits = clip_tags(os.path.join(data, "sft_train.json"))
    records = read_manifest(os.path.join(data, "sft_train.json"))[:count]
    return [
        (r["input"], r["target"], described[r["audio_filepath"]], sorted(traits.get(r["audio_filepath"], {}).values()),
         float(r["duration"]))
        for r in records
    ]  # fmt: skip


def clip_tags(manifest):
    """Each training clip's properties, read from its multiple-choice answers (the Whisper stand-in's tags).

    Whisper comes to DIFFA-2 already hearing who speaks and how things sound; the stand-in learns
    that from these tags (:func:`~speechbrain_diffa.demo.standins.pretrain_whisper_standin`). Only the
    training manifest is read: the held-out test stays unseen.

    Returns
    -------
    dict
        ``audio_filepath`` -> ``{question_type: answer}``.

    Example
    -------
    >>> import tempfile
    >>> from speechbrain_diffa.data.manifests import write_manifest
    >>> path = os.path.join(tempfile.mkdtemp(), "sft.json")
    >>> write_manifest([{"id": "a-mcq", "audio_filepath": "a.wav", "input": "Q", "target": "man",
    ...                  "question_type": "speaker_gender"},
    ...                 {"id": "a-open", "audio_filepath": "a.wav", "input": "Q", "target": "a man",
    ...                  "question_type": "speaker_gender"}], path)
    >>> clip_tags(path)
    {'a.wav': {'speaker_gender': 'man'}}
    """
    from speechbrain_diffa.data.manifests import read_manifest

    tags = {}
    for record in read_manifest(manifest):
        if record["id"].endswith("-mcq"):
            tags.setdefault(record["audio_filepath"], {})[record["question_type"]] = record["target"]
    return tags


def standin_texts(data):
    """The language stand-in's plain text: the corpus text (``corpus_text.txt``), one item per non-empty line."""
    with open(os.path.join(data, "corpus_text.txt"), encoding="utf-8") as f:
        return [line for line in f.read().splitlines() if line.strip()]


def _model_sizes(standins):
    """Recipe overrides for the stand-ins' widths, read from their configs."""
    from speechbrain_diffa.demo.standins import ACOUSTIC_POSITIONS

    with open(os.path.join(standins["whisper"], "config.json"), encoding="utf-8") as f:
        whisper = json.load(f)
    with open(os.path.join(standins["llm"], "config.json"), encoding="utf-8") as f:
        llm = json.load(f)
    return {
        "whisper_taps": list(range(1, whisper["encoder_layers"] + 1)),
        "encoder_dim": whisper["d_model"],
        "encoder_heads": whisper["encoder_attention_heads"],
        "llm_dim": llm.get("d_model") or llm["hidden_size"],  # LLaDA's or Llama's key
        "llm_dtype": "float32",
        "acoustic_queries": ACOUSTIC_POSITIONS,  # the positions the stand-in's question chats hold traits in
        "acoustic_ffn": 4 * whisper["d_model"],
    }


def stage_overrides(stage, data, standins, output, previous, settings, seed, sizes=None, backbone="diffusion"):
    """Command-line overrides that run a full-scale stage YAML on the demo's models and data.

    Example
    -------
    >>> tiny = {"whisper": "w", "llm": "l"}
    >>> sizes = {"whisper_taps": [1, 2], "encoder_dim": 64}
    >>> o = stage_overrides(3, "data", tiny, "out/s3", "out/s2", QUICK, 0, sizes=sizes)
    >>> o["previous_stage"], o["replay_manifest"], o["number_of_epochs"], o["valid_manifest"]
    ('out/s2', '', 1, '')
    """
    overrides = {
        "seed": seed,
        "data_folder": data,
        "output_folder": output,
        "whisper_path": standins["whisper"],
        "llm_path": standins["llm"],
        "backbone": backbone,
        "number_of_epochs": settings.epochs[stage - 1],
        "batch_size": settings.batch_size if stage < 4 else max(1, settings.batch_size // 2),
        "lr": settings.lrs[stage - 1],
        "warmup_steps": 20,
        "decay_steps": settings.decay_steps,
        "weight_decay": 0.01,
        "precision": "fp32",
        "eval_precision": "fp32",
        "num_workers": 0,
        "use_tensorboard": False,
        "ckpt_interval_minutes": 0,
        "valid_manifest": "",  # the held-out harness run below is the evaluation
        "mask_padding": settings.mask_padding,
        **({"train_gen_length": settings.train_gen_length} if stage < 4 else {}),
        **(sizes or _model_sizes(standins)),
    }
    if stage == 2:  # DIFFA-2 replays stage 1's ASR data in stage 2
        overrides["replay_manifest"] = os.path.join(previous, "stage1_train.json")
    if stage == 3:
        # No ASR replay: the tiny LLM cannot caption yet, so the replayed items' large, noisy losses
        # drowned the multiple-choice signal (with 5 % replay, stage 3's training answer accuracy
        # sat at 0.46 for 6 epochs; without, 0.69 / 0.89 / 0.995 after epochs 2 / 3 / 4).
        overrides["replay_manifest"] = ""
    if stage in (1, 3, 4):
        overrides["train_manifest"] = os.path.join(output, f"stage{stage}_train.json")  # write_stage_manifest
    if previous:
        overrides["previous_stage"] = previous
    return overrides


def _as_argument(key, value):
    """``--key=value`` as SpeechBrain's parser reads it (lists and dicts in YAML flow style)."""
    return f"--{key}={json.dumps(value) if isinstance(value, (list, tuple, dict)) else value}"


def write_stage_manifest(stage, data, output, settings):
    """The training manifest of stages 1, 3 and 4, written into the stage's folder.

    Stage 1 aligns on the transcripts only (the corpus's speech clips), as DIFFA-2's stage 1 aligns
    on ASR data: with the captions of the other clips mixed in, the same steps saw each transcript
    half as often, and the held-out sentences' WER was 29.0 % instead of 15.0 % (docs/demo.md,
    "Stage 1 learns sentences, not digit strings"). Stage 3 fine-tunes on the multiple-choice
    questions only (the benchmark's format; with the open questions mixed in, the tiny model took
    several times as many steps to use the audio); stage 4 on the first
    ``settings.preference_items`` pairs (it is the slowest per item).
    """
    from speechbrain_diffa.data.manifests import read_manifest, write_manifest

    if stage == 1:
        records = transcript_records(os.path.join(data, "stage1_asr_train.json"))
    elif stage == 3:
        records = [r for r in read_manifest(os.path.join(data, "sft_train.json")) if r["id"].endswith("-mcq")]
    else:
        records = read_manifest(os.path.join(data, "pref_train.json"))[: settings.preference_items]
    path = os.path.join(output, f"stage{stage}_train.json")
    write_manifest(records, path)
    return path


STAGE_LOG = "train_output.txt"  # everything train.py printed, in the stage's folder


def run_stage(stage, name, overrides, output):
    """Run ``train.py hparams/<name>.yaml`` in a subprocess, its output shown and kept; raise if it fails.

    The recipe runs in its own folder, so every path in ``overrides`` must be absolute (checked).
    The output goes to the screen and to ``output/train_output.txt``, which exists even when the
    stage stops before SpeechBrain writes its own ``log.txt``.
    """
    relative = {k: v for k, v in overrides.items() if isinstance(v, str) and os.sep in v and not os.path.isabs(v)}
    if relative:
        raise ValueError(f"stage {stage}: paths handed to train.py must be absolute, got {relative}")
    recipe = recipe_folder()
    command = [sys.executable, "train.py", os.path.join("hparams", f"{name}.yaml")]
    command += [_as_argument(k, v) for k, v in overrides.items()]
    os.makedirs(output, exist_ok=True)
    log_path = os.path.join(output, STAGE_LOG)
    _log(f"stage {stage}: python train.py hparams/{name}.yaml (+{len(overrides)} overrides, output in {log_path})")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(command, cwd=recipe, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)  # fmt: skip
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        returncode = process.wait()
    if returncode != 0:
        raise RuntimeError(f"Stage {stage} failed (exit {returncode}); its output is in {log_path}")


def evaluate_stage(stage_folder, data, prepared, eval_folder, settings):
    """Export a stage's model, score it on the held-out test; returns (report, loaded model)."""
    from speechbrain_diffa.evaluation.runner import load_answerer, run_benchmark
    from speechbrain_diffa.hub.export import export_recipe

    model_folder = os.path.join(eval_folder, "model")
    export_recipe(stage_folder, model_folder, example=_first_test_clip(data))
    answerer = load_answerer(model_folder)
    report = run_benchmark(prepared, answerer, os.path.join(eval_folder, "mmau"), batch_size=settings.eval_batch,
                           progress=False)  # fmt: skip
    return report, answerer


def _first_test_clip(data):
    folder = os.path.join(data, "test-mini-audios")
    return os.path.join(folder, sorted(os.listdir(folder))[0])


def task_accuracies(report):
    """``{"overall": %, "sound": %, "music": %, "speech": %}`` from a harness report."""
    groups = report.get("per_category", {}).get("task", {})
    found = {task: groups[task]["accuracy"] for task in TASKS if task in groups}
    return {"overall": report["overall"], **found}


@torch.no_grad()
def preference_margin(model, data, count, seed=0, batch_size=8):
    """Mean ELBO(chosen) - ELBO(rejected) over the first ``count`` validation pairs (nats).

    Each batch draws its Monte-Carlo masks from a generator seeded by its position, so every
    model (stage 3, stage 4) is scored on the same draws and the margins compare models, not draws.
    """
    from speechbrain_diffa.data.audio import batch_waveforms, load_audio
    from speechbrain_diffa.data.manifests import read_manifest

    model.eval()
    chat, margins = model.chat, []
    records = read_manifest(os.path.join(data, "pref_valid.json"))[:count]
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        wavs, lens = batch_waveforms([load_audio(r["audio_filepath"].replace("{data_root}", data)) for r in batch])
        elbos = []
        for side in ("chosen", "rejected"):
            ids, prompt_lengths, splice_at = chat.collate_training(
                [chat.training_example(r["input"], r[side]) for r in batch]
            )
            generator = torch.Generator().manual_seed(seed + start)
            elbos.append(model.elbo(wavs, lens, ids, prompt_lengths, splice_at, num_samples=8, generator=generator))
        margins += (elbos[0] - elbos[1]).tolist()
    return sum(margins) / len(margins)


def answer_example(answerer, prepared, repeats=3):
    """Answer the first test question with the reference and the ``answer-fast`` decoding; time both (batch 1)."""
    from speechbrain_diffa.prompts import MMAU_PROMPT, build_prompt

    item = prepared.items[0]

    prompt = build_prompt(MMAU_PROMPT, item.question, item.choices)
    timings = {}
    for label, options in (("reference", preset("answer-reference")), ("fast", preset("answer-fast"))):
        answerer.answer_file(item.audio, prompt, **options)  # warm-up
        start = time.perf_counter()
        for _ in range(repeats):
            answer = answerer.answer_file(item.audio, prompt, **options)
        timings[label] = {"seconds_per_answer": round((time.perf_counter() - start) / repeats, 4), "answer": answer}
    return {"audio": item.audio, "question": item.question, "choices": item.choices, "truth": item.answer, **timings}


# The decoders compared on the whole held-out test with the final model: entries of the decoding
# benchmark's CONFIGS, each over the benchmark's reference preset as the evaluation runner applies them.
# The "answer" preset (the EOS stop alone) gives the reference's answers by construction, and the presets' parts
# alone are left to the decoding benchmark: the demo keeps to the cached presets and the confidence rules they are
# weighed against, to stay within its budget.
DECODERS = {
    name: dict(CONFIGS)[name]
    for name in (
        "reference",
        "dual cache + eos stop (answer-cached preset)",
        "factor 0.5 + dual cache + eos stop (answer-fast preset)",
        "factor 1.0 + dual cache + eos stop",
        "threshold 0.9 + dual cache + eos stop",
    )
}


def decode_with_each(answerer, prepared, folder, batch_size, decoders, base=None):
    """Decode ``prepared`` once per decoder (``{label: options}``, the first the reference), each in its own
    sub-folder of ``folder``: the runner's report, the predictions, their share equal to the first decoder's
    (%), and the decoding's wall time (this machine, one process, batches of ``batch_size``).

    Returns
    -------
    dict
        ``{label: {"report", "predictions", "same_as_first", "seconds"}}``.
    """
    from speechbrain_diffa.evaluation.runner import collect_predictions, run_benchmark, run_settings

    runs = {}
    for label, options in decoders.items():
        decoding = {**(base or {}), **options}
        out = os.path.join(folder, re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_"))
        start = time.perf_counter()
        report = run_benchmark(prepared, answerer, out, batch_size=batch_size, decoding=decoding, progress=False)
        seconds = time.perf_counter() - start
        predictions = collect_predictions(out, run_settings(prepared, answerer, batch_size, decoding=decoding))
        first = next(iter(runs.values()))["predictions"] if runs else predictions
        same = [predictions[i] == first[i] for i in first]
        runs[label] = {"report": report, "predictions": predictions, "seconds": round(seconds, 2),
                       "same_as_first": round(100 * sum(same) / len(same), 1)}  # fmt: skip
    return runs


def compare_decoders(answerer, prepared, folder, batch_size):
    """Score the held-out test with each of :data:`DECODERS`: accuracy, agreement with the
    reference answers, and wall time (this machine, one process, batches of ``batch_size``)."""
    return {
        label: {
            "options": DECODERS[label],
            "accuracy": run["report"]["overall"],
            "same_answer_as_reference": run["same_as_first"],
            "seconds": run["seconds"],
        }  # fmt: skip
        for label, run in decode_with_each(answerer, prepared, folder, batch_size, DECODERS).items()
    }


# The transcription test's transcripts are 1-3 words, which 16 tokens hold: the reference sampler on a
# 16-token canvas (the benchmark's preset decodes 128, eight times the passes for the same answers here).
TRANSCRIBE_DECODING = preset("transcribe-reference", gen_length=16, steps=16, block_length=16)
TRANSCRIPT_KINDS = ("digits", "sentence")


def transcript_kind(text):
    """``"digits"`` for a digit string (every word a digit's name), else ``"sentence"``.

    Example
    -------
    >>> transcript_kind("SEVEN TWO"), transcript_kind("THE CAT RUNS")
    ('digits', 'sentence')
    """
    from speechbrain_diffa.demo.synthetic.scenes import DIGITS

    return "digits" if all(word in DIGITS for word in text.lower().split()) else "sentence"


def transcription_scores(answerer, prepared, folder, batch_size, decoding=TRANSCRIBE_DECODING):
    """Held-out WER and CER (%) on the transcription test: every utterance, digit strings, sentences.

    An empty answer scores 100 (all deletions), the baseline the demo's table prints beside them.

    Returns
    -------
    dict
        ``{"all" | "digits" | "sentence": {"wer": %, "cer": %, "utterances": n}}``.
    """
    return score_transcripts(prepared, transcribe_test(answerer, prepared, folder, batch_size, decoding))


def transcribe_test(answerer, prepared, folder, batch_size, decoding=TRANSCRIBE_DECODING):
    """Transcripts of the test by the benchmark runner (resumed from ``folder``): ``{utterance id: text}``."""
    from speechbrain_diffa.evaluation.runner import collect_predictions, run_benchmark, run_settings

    run_benchmark(prepared, answerer, folder, batch_size=batch_size, decoding=decoding, progress=False)
    return collect_predictions(folder, run_settings(prepared, answerer, batch_size, decoding=decoding))


def score_transcripts(prepared, transcripts):
    """:func:`transcription_scores` of given transcripts (the runner's WER report per kind of utterance)."""
    from dataclasses import replace

    from speechbrain_diffa.evaluation.report import wer_report

    scores = {}
    for kind in ("all",) + TRANSCRIPT_KINDS:
        items = [i for i in prepared.items if kind == "all" or transcript_kind(i.answer) == kind]
        report = wer_report(replace(prepared, items=items, unusable_items=[], problems=[], records=None), transcripts)
        scores[kind] = {"wer": report["overall"], "cer": report["cer"], "utterances": len(items)}
    return scores


# The decoders weighed for transcripts: the reference sampler, the EOS stop (today's ``transcribe`` preset), and
# the fast options over it. Each on the transcription test's 16-token canvas (:data:`TRANSCRIBE_DECODING`).
TRANSCRIPTION_DECODERS = {
    "reference": {},
    "eos stop (transcribe preset)": {"eos_early_stop": True},
    "dual cache + eos stop": {"cache": "dual", "eos_early_stop": True},
    "factor 0.5 + dual cache + eos stop": dict(FAST_DECODING),
    "factor 1.0 + dual cache + eos stop": {**FAST_DECODING, "factor": 1.0},
    "threshold 0.9 + dual cache + eos stop": {"threshold": 0.9, "cache": "dual", "eos_early_stop": True},
}
TRANSCRIPTION_GATE_POINTS = 0.5  # a decoder may raise the reference sampler's WER by at most this much


def compare_transcription_decoders(answerer, prepared, folder, batch_size):
    """Transcribe the held-out speech with each of :data:`TRANSCRIPTION_DECODERS`: WER (all, digit strings,
    sentences), transcripts equal to the reference sampler's, wall time (this machine, batches of ``batch_size``).

    Returns
    -------
    dict
        Per decoder ``{"options", "wer", "wer_digits", "wer_sentence", "same_transcript_as_reference", "seconds"}``.
    """
    runs = decode_with_each(answerer, prepared, folder, batch_size, TRANSCRIPTION_DECODERS, TRANSCRIBE_DECODING)
    results = {}
    for label, run in runs.items():
        scores = score_transcripts(prepared, run["predictions"])
        results[label] = {"options": TRANSCRIPTION_DECODERS[label], "wer": scores["all"]["wer"],
                          "wer_digits": scores["digits"]["wer"], "wer_sentence": scores["sentence"]["wer"],
                          "same_transcript_as_reference": run["same_as_first"], "seconds": run["seconds"]}  # fmt: skip
    return results


GATE_NEEDS_WER = 30.0  # the gate weighs decoders on a model that transcribes digit strings at least this well


def gate_transcription(answerer, prepared, scores, folder, settings):
    """Stage 1's decoder comparison for transcripts (:func:`compare_transcription_decoders`), or why it was skipped.

    Weighing decoders by WER means something only on a model that transcribes: with stage 1's digit-string WER
    above :data:`GATE_NEEDS_WER` the comparison is skipped (the result says so) rather than choosing from noise.
    """
    if scores["digits"]["wer"] > GATE_NEEDS_WER:
        reason = (
            f"skipped: stage 1 transcribes digit strings at {scores['digits']['wer']:.1f} % WER (> {GATE_NEEDS_WER})"
        )
        _log(f"transcription decoders: {reason}")
        return {"skipped": reason}
    _log("transcription decoders: the transcription test with each decoder (stage 1 model)")
    results = compare_transcription_decoders(answerer, prepared, folder, settings.eval_batch)
    return {"decoders": results, "chosen": transcription_gate(results)}


def transcription_gate(results, points=TRANSCRIPTION_GATE_POINTS):
    """The fastest decoder whose WER is at most ``points`` above the reference sampler's (the gate for ``transcribe``).

    Example
    -------
    >>> transcription_gate({"reference": {"wer": 20.0, "seconds": 9.0}, "fast": {"wer": 20.4, "seconds": 3.0},
    ...                     "fastest": {"wer": 23.0, "seconds": 2.0}})
    'fast'
    """
    ceiling = results["reference"]["wer"] + points
    passing = [label for label, r in results.items() if r["wer"] <= ceiling]
    return min(passing, key=lambda label: results[label]["seconds"])


def format_transcription_gate(results, points=TRANSCRIPTION_GATE_POINTS):
    """The transcription decoders' table (Markdown), the gate's choice marked.

    Example
    -------
    >>> r = {"reference": {"wer": 20.0, "wer_digits": 25.0, "wer_sentence": 15.0,
    ...                    "same_transcript_as_reference": 100.0, "seconds": 9.0}}
    >>> print(format_transcription_gate(r).splitlines()[2])
    | reference (gate's choice) | 20.0 | 25.0 | 15.0 | 100.0 | 9.0 | 1.0x |
    """
    chosen = transcription_gate(results, points)
    rows = ["| decoder (transcription test) | WER % | digits | sentences | same transcript as reference % | seconds "
            "| speed-up |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, r in results.items():
        name = f"{label} (gate's choice)" if label == chosen else label
        speedup = results["reference"]["seconds"] / r["seconds"] if r["seconds"] else float("nan")
        rows.append(f"| {name} | {r['wer']:.1f} | {r['wer_digits']:.1f} | {r['wer_sentence']:.1f} "
                    f"| {r['same_transcript_as_reference']:.1f} | {r['seconds']:.1f} | {speedup:.1f}x |")  # fmt: skip
    return "\n".join(rows)


def format_table(summary):
    """The per-stage table (Markdown): transcription WER of the held-out speech, multiple-choice accuracy
    of the held-out test, preference margin, training time; first row the baselines (an empty
    transcript's WER and CER, 100 %; the test's chance accuracy).

    Example
    -------
    >>> s = {"chance": {"overall": 43.1, "sound": 41.7, "music": 50.0, "speech": 37.5},
    ...      "stages": {"1": {"accuracy": {"overall": 0.0, "sound": 0.0, "music": 0.0, "speech": 0.0},
    ...                       "transcription": {"all": {"wer": 20.0, "cer": 9.0}, "digits": {"wer": 25.0},
    ...                                         "sentence": {"wer": 15.0}}, "train_seconds": 50.0}}}
    >>> print(format_table(s).splitlines()[2])
    | chance / empty transcript | 100.0 | 100.0 | 100.0 | 43.1 | 41.7 | 50.0 | 37.5 | | |
    >>> print(format_table(s).splitlines()[3])
    | stage 1 | 25.0 | 15.0 | 9.0 | 0.0 | 0.0 | 0.0 | 0.0 |  | 50 |
    """
    rows = [
        "| model | WER % digits | WER % sentences | CER % | accuracy % overall | sound | music | speech "
        "| preference margin | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    chance = summary["chance"]
    rows.append(
        "| chance / empty transcript | 100.0 | 100.0 | 100.0 | "
        + " | ".join(f"{chance[k]:.1f}" for k in ("overall",) + TASKS)
        + " | | |"
    )
    for stage, result in sorted(summary["stages"].items()):
        asr = result.get("transcription") or {}
        cells = [_percent(asr.get(kind, {}).get("wer")) for kind in TRANSCRIPT_KINDS]
        cells.append(_percent(asr.get("all", {}).get("cer")))
        cells += [_percent(result["accuracy"].get(k)) for k in ("overall",) + TASKS]
        margin, seconds = result.get("preference_margin"), result.get("train_seconds")
        cells += ["" if margin is None else f"{margin:+.2f}", "" if seconds is None else f"{seconds:.0f}"]
        rows.append(f"| stage {stage} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _percent(value):
    return "" if value is None else f"{value:.1f}"


def format_decoding_table(decoding):
    """The decoder comparison (Markdown).

    Example
    -------
    >>> d = {"reference": {"accuracy": 90.0, "same_answer_as_reference": 100.0, "seconds": 10.0}}
    >>> print(format_decoding_table(d).splitlines()[2])
    | reference | 90.0 | 100.0 | 10.0 | 1.0x |
    """
    rows = ["| decoder (final model, held-out test) | accuracy | same answer as reference % | seconds | speed-up |",
            "|---|---|---|---|---|"]  # fmt: skip
    reference = decoding["reference"]["seconds"]
    for label, r in decoding.items():
        speedup = reference / r["seconds"] if r["seconds"] else float("nan")
        rows.append(
            f"| {label} | {r['accuracy']:.1f} | {r['same_answer_as_reference']:.1f} | {r['seconds']:.1f} "
            f"| {speedup:.1f}x |"
        )
    return "\n".join(rows)


def chance_levels(data):
    """Chance accuracy (%) overall and per task of the held-out test, from ``corpus_info.json``."""
    with open(os.path.join(data, "corpus_info.json"), encoding="utf-8") as f:
        chance = json.load(f)["test_chance"]
    return {k: round(100 * v, 1) for k, v in chance.items()}


def run_demo(output, settings=FULL, seed=0, backbone="diffusion"):
    """Everything above, in order; returns the summary (also written to ``demo_summary.json``).

    ``backbone="autoregressive"`` runs the matched control in the same output folder: the same
    corpus and Whisper stand-in, a causal stand-in pretrained like the LLaDA one, the same four
    stages with the same data, steps and seeds (stage folders ``ar_stage*``), scored on the same
    held-out test; its summary is ``demo_summary_autoregressive.json``.
    """
    from speechbrain_diffa.demo.synthetic.corpus import ASR_TEST_DIR
    from speechbrain_diffa.evaluation.benchmarks import check_complete, prepare

    started = time.time()
    output = os.path.abspath(output)  # the stages run in the recipe's folder, not the caller's
    data, models = os.path.join(output, "data"), os.path.join(output, "models")
    build_data(data, settings, seed)
    standins = build_standins(data, models, settings, seed, backbone)
    prefix = "" if backbone == "diffusion" else "ar_"
    summary = {"settings": asdict(settings), "seed": seed, "chance": chance_levels(data), "stages": {},
               "standin_seconds": standins.pop("seconds"), "backbone": backbone}  # fmt: skip
    prepared = prepare("mmau", data, unofficial="the demo's generated test")  # read and checked once
    check_complete(prepared)
    transcription_test = prepare("librispeech", os.path.join(data, ASR_TEST_DIR))
    check_complete(transcription_test)
    previous = ""
    for stage, name in STAGES:
        stage_folder = os.path.join(output, prefix + name)
        if stage in (1, 3, 4):
            write_stage_manifest(stage, data, stage_folder, settings)
        train_seconds = None  # unknown when an earlier run trained it
        if not os.path.isfile(os.path.join(stage_folder, "diffa2_trained.ckpt")):
            start = time.time()
            overrides = stage_overrides(
                stage, data, standins, stage_folder, previous, settings, seed, backbone=backbone
            )
            run_stage(stage, name, overrides, stage_folder)
            train_seconds = round(time.time() - start, 1)
        _log(f"stage {stage}: scoring on the held-out test")
        eval_folder = os.path.join(output, "eval", prefix + name)
        report, answerer = evaluate_stage(stage_folder, data, prepared, eval_folder, settings)
        result = {"accuracy": task_accuracies(report), "train_seconds": train_seconds}
        result["transcription"] = transcription_scores(answerer, transcription_test, os.path.join(eval_folder, "asr"),
                                                       settings.eval_batch)  # fmt: skip
        if stage >= 3:
            result["preference_margin"] = round(preference_margin(answerer.model, data, settings.margin_items, seed), 3)
            if stage == 4:
                summary["latency"] = answer_latency(answerer, prepared)
                if backbone == "diffusion":
                    summary["example"] = answer_example(answerer, prepared)
                    _log("decoding: the held-out test with the reference and the fast decoders")
                    summary["decoding"] = compare_decoders(answerer, prepared, os.path.join(output, "eval", "decoding"),
                                                           settings.eval_batch)  # fmt: skip
        if stage == 1 and backbone == "diffusion":
            gate_folder = os.path.join(eval_folder, "asr_decoding")
            summary["transcription_decoding"] = gate_transcription(
                answerer, transcription_test, result["transcription"], gate_folder, settings
            )
        summary["stages"][str(stage)] = result
        _log(f"stage {stage}: held-out accuracy {result['accuracy']}, transcription {result['transcription']}")
        previous = stage_folder
    summary["seconds"] = round(time.time() - started, 1)
    name = SUMMARY_FILE if backbone == "diffusion" else SUMMARY_FILE.replace(".json", "_autoregressive.json")
    with open(os.path.join(output, name), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return summary


def answer_latency(answerer, prepared, batch_sizes=(1, 8), items=16):
    """Seconds per answer of the model's default decoding at each batch size, on the first ``items`` test clips.

    The diffusion model answers with the ``answer`` preset; the autoregressive control greedily,
    with its KV cache, up to the same 16 tokens.
    """
    from speechbrain_diffa.data.audio import batch_waveforms, load_audio
    from speechbrain_diffa.prompts import MMAU_PROMPT, build_prompt

    chosen = prepared.items[:items]
    waves = [load_audio(item.audio) for item in chosen]
    prompts = [build_prompt(MMAU_PROMPT, item.question, item.choices) for item in chosen]
    answerer.answer_batch(*batch_waveforms(waves[:1]), prompts[:1])  # warm-up
    out = {}
    for size in batch_sizes:
        start = time.perf_counter()
        for i in range(0, len(chosen), size):
            answerer.answer_batch(*batch_waveforms(waves[i : i + size]), prompts[i : i + size])
        out[str(size)] = round((time.perf_counter() - start) / len(chosen), 4)
    return out


def format_comparison(diffusion, autoregressive):
    """The side-by-side table of the two backbones' runs (Markdown): held-out WER, accuracy, margin, train time.

    Example
    -------
    >>> run = {"stages": {"3": {"accuracy": {"overall": 80.0, "sound": 70.0, "music": 90.0, "speech": 80.0},
    ...                         "train_seconds": 60.0, "preference_margin": 0.5,
    ...                         "transcription": {"digits": {"wer": 90.0}, "sentence": {"wer": 40.0}}}},
    ...        "latency": {"1": 0.1, "8": 0.05}}
    >>> print(format_comparison(run, run).splitlines()[2])
    | stage 3 | diffusion | 90.0 | 40.0 | 80.0 | 70.0 | 90.0 | 80.0 | +0.50 | 60 |
    """
    rows = [
        "| model | backbone | WER % digits | WER % sentences | accuracy % overall | sound | music | speech "
        "| preference margin | train s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for stage in sorted(diffusion["stages"]):
        for label, run in (("diffusion", diffusion), ("autoregressive", autoregressive)):
            result = run["stages"].get(stage)
            if result is None:
                continue
            acc, margin, seconds = result["accuracy"], result.get("preference_margin"), result.get("train_seconds")
            transcription = result.get("transcription") or {}
            cells = [_percent((transcription.get(kind) or {}).get("wer")) for kind in ("digits", "sentence")]
            cells += [f"{acc.get(k, float('nan')):.1f}" for k in ("overall",) + TASKS]
            cells += ["" if margin is None else f"{margin:+.2f}", "" if seconds is None else f"{seconds:.0f}"]
            rows.append(f"| stage {stage} | {label} | " + " | ".join(cells) + " |")
    latency = ["", "| final model | ms per answer, batch 1 | ms per answer, batch 8 |", "|---|---|---|"]
    for label, run in (("diffusion (answer preset)", diffusion), ("autoregressive (greedy, KV cache)", autoregressive)):
        lat = run.get("latency") or {}
        latency.append(
            f"| {label} | {1000 * lat.get('1', float('nan')):.0f} | {1000 * lat.get('8', float('nan')):.0f} |"
        )
    return "\n".join(rows + latency)


def main(argv=None):
    """``python -m speechbrain_diffa.demo [--output DIR] [--seed N] [--quick]``."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--output",
        help="folder for data, models, stages, summary (default: results/demo, "
        "or results/demo_quick with --quick, relative to where you run it)",
    )
    parser.add_argument("--seed", type=int, default=0, help="corpus, stand-ins and training seed")
    parser.add_argument(
        "--quick", action="store_true", help="a few items and steps (checks the plumbing, learns nothing)"
    )
    parser.add_argument(
        "--compare",
        choices=("autoregressive",),
        help="also run the matched autoregressive control (same corpus, stand-in budget, stages and seed) and "
        "print both side by side",
    )
    args = parser.parse_args(argv)
    progress = logging.getLogger("speechbrain_diffa.demo.standins")  # stand-in losses every 50 steps
    progress.setLevel(logging.INFO)
    progress.addHandler(logging.StreamHandler(sys.stdout))
    args.output = os.path.abspath(args.output or ("results/demo_quick" if args.quick else "results/demo"))
    summary = run_demo(args.output, QUICK if args.quick else FULL, args.seed)
    print()
    print(format_table(summary))
    example = summary.get("example")
    if example:
        print(f"\nExample: {example['question']} {example['choices']} (truth: {example['truth']})")
        for label in ("reference", "fast"):
            print(
                f"  {label:9s} decoding: {example[label]['answer']!r} in "
                f"{example[label]['seconds_per_answer'] * 1000:.0f} ms"
            )
    if summary.get("decoding"):
        print("\n" + format_decoding_table(summary["decoding"]))
    gate = summary.get("transcription_decoding") or {}
    if "decoders" in gate:
        print("\n" + format_transcription_gate(gate["decoders"]))
    elif gate:
        print(f"\nTranscription decoders: {gate['skipped']}")
    print(f"\nTotal {summary['seconds'] / 60:.1f} min; summary in {os.path.join(args.output, SUMMARY_FILE)}")
    if args.compare:
        control = run_demo(args.output, QUICK if args.quick else FULL, args.seed, backbone=args.compare)
        print("\n" + format_comparison(summary, control))
        print(f"\nThe {args.compare} control took {control['seconds'] / 60:.1f} min")
        return {"diffusion": summary, args.compare: control}
    return summary
