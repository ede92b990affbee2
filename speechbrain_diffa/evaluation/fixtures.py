"""Tiny generated copies of each release, in the official schemas, for tests and offline demos.

Every field of the real records is present; options come in 2, 4, 5 and 8 (MMAU), 2 to 6 (MMAR)
and 2 to 4 (MMSU); texts include Unicode. Audio is a short noise clip per item.

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import os

import torch

OPTION_SETS = [
    ["Man", "Woman"],
    ["dog barking", "a cat meowing", "rain on a roof", "café crowd noise"],
    ["C major", "G major", "D minor", "E minor", "A minor"],
    ["one", "two", "three", "four", "five", "six", "seven", "eight"],
    ["high-pitched", "low-pitched", "don't know", "naïve whistle"],
]
SAMPLE_RATE = 16000


def write_clip(path, seconds=0.25, seed=0):
    """A short noise clip (random but reproducible) at 16 kHz.

    Example
    -------
    >>> from speechbrain_diffa.data.audio import load_audio
    >>> path = getfixture("tmpdir").strpath + "/clip.flac"
    >>> write_clip(path, seconds=0.5)
    >>> load_audio(path).shape
    torch.Size([8000])
    """
    from speechbrain.dataio import audio_io

    generator = torch.Generator().manual_seed(seed)
    wave = (torch.rand(1, int(seconds * SAMPLE_RATE), generator=generator) - 0.5) * 0.2
    os.makedirs(os.path.dirname(path), exist_ok=True)
    audio_io.save(path, wave, SAMPLE_RATE)


def write_mmau(folder, n=10, split="test-mini", version="v05.15.25"):
    """``mmau-<split>.json`` + ``<split>-audios/`` (2024 layout: no ``id`` field; test: no answers).

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import read_mmau
    >>> folder = getfixture("tmpdir").strpath
    >>> _ = write_mmau(folder, n=5, version="2024")
    >>> sorted({len(i.choices) for i in read_mmau(folder, version="2024").items})
    [2, 4, 5, 8]
    """
    tasks, levels = ["sound", "music", "speech"], ["easy", "medium", "hard"]
    records = []
    for i in range(n):
        rid = f"mmau-{i:04d}-ü"
        choices = OPTION_SETS[i % len(OPTION_SETS)]
        record = {
            "id": rid,
            "audio_id": f"./{split}-audios/{rid}.wav",
            "question": f"Question {i}: what is heard — «{choices[0]}»?",
            "choices": choices,
            "answer": choices[(i * 3) % len(choices)],
            "dataset": "Synthetic",
            "task": tasks[i % 3],
            "split": split,
            "category": ["Reasoning"] if i % 4 == 3 else ("Reasoning", "Information Extraction")[i % 2],
            "sub-category": ["Acoustic Source Inference", "Emotion Identification"][i % 2],
            "difficulty": levels[i % 3],
        }
        if version == "2024":
            del record["id"]
        if split == "test":
            del record["answer"]
        records.append(record)
        write_clip(os.path.join(folder, record["audio_id"]), seed=i)
    path = os.path.join(folder, f"mmau-{split}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(records, f, ensure_ascii=False, indent=4)
    return path


def write_mmar(folder, n=10):
    """``MMAR-meta.jsonl`` + ``audio/`` with every field of the release (rubric included).

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import read_mmar
    >>> folder = getfixture("tmpdir").strpath
    >>> _ = write_mmar(folder, n=3)
    >>> [i.groups["modality"] for i in read_mmar(folder).items]
    ['sound', 'music', 'speech']
    """
    from speechbrain_diffa.evaluation.benchmarks import MMAR_LAYERS, MMAR_MODALITIES

    lines = []
    for i in range(n):
        rid = f"yt{i:03d}_00-00-0{i % 10}_00-00-3{i % 10}"
        size, options = 2 + i % 5, OPTION_SETS[i % len(OPTION_SETS)]
        choices = (options if len(options) >= size else OPTION_SETS[3])[:size]
        record = {
            "id": rid,
            "audio_path": f"./audio/{rid}.wav",
            "question": f"Why does sound {i} change? (日本語 ok)",
            "choices": choices,
            "answer": choices[i % len(choices)],
            "modality": MMAR_MODALITIES[i % len(MMAR_MODALITIES)],
            "category": MMAR_LAYERS[i % len(MMAR_LAYERS)],
            "sub-category": ["Counting", "Emotion", "Music Theory"][i % 3],
            "language": [None, "en", "zh"][i % 3],
            "source": "youtube",
            "url": f"https://www.youtube.com/watch?v=yt{i:03d}",
            "timestamp": "00:00:00,00:00:30",
            "thinking": "Reasoning text.",
            "cue": ["cue"],
            "rubric": [{"name": "r", "scoring_point": "p", "note": "n", "choices": [0, 1]}],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
        write_clip(os.path.join(folder, record["audio_path"]), seed=100 + i)
    path = os.path.join(folder, "MMAR-meta.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_mmsu(folder, n=10):
    """``mmsu.jsonl`` (DIFFA's local layout) + ``audio/``; some items have only two options.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import read_mmsu
    >>> folder = getfixture("tmpdir").strpath
    >>> _ = write_mmsu(folder, n=6)
    >>> [len(i.choices) for i in read_mmsu(folder).items]
    [4, 4, 4, 4, 4, 2]
    """
    lines = []
    for i in range(n):
        choices = ["rising intonation", "falling intonation", "flat", "questioning—tone"]
        if i % 6 == 5:
            choices = choices[:2] + [None, None]
        record = {
            "id": f"mmsu_{i}",
            "audio_path": f"audio/mmsu_{i}.wav",
            "question": f"What intonation does speaker {i} use? «ça»",
            "choice_a": choices[0],
            "choice_b": choices[1],
            "choice_c": choices[2],
            "choice_d": choices[3],
            "answer_gt": choices[i % 2],
            "task_name": ["intonation_perception", "sarcasm_detection", "emotion_reasoning"][i % 3],
            "category": ["Perception", "Reasoning"][i % 2],
            "sub-category": ["Semantics", "Phonology", "Paralinguistics"][i % 3],
            "sub-sub-category": "prosody",
            "linguistics_sub_discipline": ["semantics", "phonology", "none"][i % 3],
        }
        lines.append(json.dumps(record, ensure_ascii=False))
        write_clip(os.path.join(folder, record["audio_path"]), seed=200 + i)
    path = os.path.join(folder, "mmsu.jsonl")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path


def write_mmsu_parquet(folder, n=10, files=2):
    """The HF release's layout (``ddwang2000/MMSU``): ``data/train-*.parquet``, each clip embedded.

    Same records as :func:`write_mmsu`, with ``audio`` a struct of the WAV's ``bytes`` and its
    original ``path`` (as the HF ``Audio`` feature stores it), split over ``files`` files.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import read_mmsu
    >>> folder = getfixture("tmpdir").strpath
    >>> _ = write_mmsu_parquet(folder, n=6)
    >>> [len(i.choices) for i in read_mmsu(folder).items]
    [4, 4, 4, 4, 4, 2]
    """
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as scratch:
        with open(write_mmsu(scratch, n), encoding="utf-8") as f:
            records = [json.loads(line) for line in f if line.strip()]
        for record in records:
            name = record.pop("audio_path")
            with open(os.path.join(scratch, name), "rb") as clip:
                record["audio"] = {"bytes": clip.read(), "path": os.path.basename(name)}
    os.makedirs(os.path.join(folder, "data"), exist_ok=True)
    paths = []
    for k in range(files):
        part = records[k::files]
        paths.append(os.path.join(folder, "data", f"train-{k:05d}-of-{files:05d}.parquet"))
        pq.write_table(pa.Table.from_pylist(part), paths[-1])
    return paths


def write_librispeech(folder, subset="test-clean", n=6):
    """``LibriSpeech/<subset>/<spk>/<chapter>/`` with a ``.trans.txt`` and FLACs.

    Example
    -------
    >>> from speechbrain_diffa.evaluation.benchmarks import read_librispeech
    >>> folder = getfixture("tmpdir").strpath
    >>> _ = write_librispeech(folder, n=2)
    >>> [i.answer for i in read_librispeech(folder).items]
    ['HELLO WORLD NUMBER ZERO', "IT'S TIME NUMBER ONE"]
    """
    words = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN"]
    chapter = os.path.join(folder, "LibriSpeech", subset, "1089", "134686")
    lines = []
    for i in range(n):
        uid = f"1089-134686-{i:04d}"
        lines.append(f"{uid} {['HELLO WORLD', 'IT' + chr(39) + 'S TIME'][i % 2]} NUMBER {words[i % 8]}")
        write_clip(os.path.join(chapter, uid + ".flac"), seed=300 + i)
    with open(os.path.join(chapter, "1089-134686.trans.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return chapter
