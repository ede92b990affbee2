"""Read local copies of the benchmark releases into :class:`Item` lists, with every problem named.

Layouts (the user points at a folder; nothing is downloaded):

* **MMAU** (Sakshi113/MMAU): ``mmau-test-mini.json`` or ``mmau-test.json``, a JSON list of records
  ``id, audio_id, question, choices, answer, dataset, task, split, category, sub-category,
  difficulty``. The 2024 release's first upload has no ``id``: it is taken from the ``audio_id``
  file name. ``test`` has no public answers (predictions are written for submission, not scored).
  Two versions exist (2024 and v05.15.25); numbers only compare within one, so it is recorded.
* **MMAR** (ddlBoJack/MMAR): ``MMAR-meta.jsonl`` (or ``MMAR-meta.json``), records ``id,
  audio_path, question, choices, answer, modality, category, sub-category, ...``.
* **MMSU**: the HF release (ddwang2000/MMSU, ``*.parquet`` with each clip embedded in an ``audio``
  struct) or DIFFA's local JSONL copy (``mmsu.jsonl``, ``audio_path``); records ``id, question,
  choice_a..choice_d, answer_gt, task_name, category, sub-category, sub-sub-category,
  linguistics_sub_discipline``.
* **LibriSpeech**: ``<folder>/[LibriSpeech/]<subset>/<speaker>/<chapter>/*.trans.txt`` and FLACs.

Relative audio paths are resolved against the metadata file's folder. A missing audio file, a
malformed record or a duplicate id becomes a :class:`Problem` naming the file, record and
field; :func:`check_complete` refuses an incomplete set unless told otherwise.

Authors
 * speechbrain_diffa contributors 2026
"""

import glob
import json
import logging
import os
import re
from dataclasses import dataclass, field

from speechbrain_diffa.evaluation.releases import identify

logger = logging.getLogger(__name__)

BENCHMARKS = ("mmau", "mmar", "mmsu", "librispeech")
MMAU_VERSIONS = ("2024", "v05.15.25")
MMAU_SPLITS = ("test-mini", "test")
# Values the official scripts index fixed dicts with (anything else is a KeyError there).
MMAU_TASKS = ("sound", "music", "speech")
MMAU_DIFFICULTIES = ("easy", "medium", "hard")
MMAR_MODALITIES = (
    "sound",
    "music",
    "speech",
    "mix-sound-music",
    "mix-sound-speech",
    "mix-music-speech",
    "mix-sound-music-speech",
)
MMAR_LAYERS = ("Signal Layer", "Perception Layer", "Semantic Layer", "Cultural Layer")
LIBRISPEECH_SUBSETS = ("test-clean", "test-other", "dev-clean", "dev-other")


@dataclass
class Item:
    """One benchmark question (or one utterance to transcribe).

    Attributes
    ----------
    id : str
    audio : str
        Path of the audio file.
    question : str
        The question (empty for ASR; the prompt supplies the instruction).
    choices : list of str or None
        Options in release order (None for ASR).
    answer : str or None
        Correct option text, reference transcript, or None when withheld (MMAU test).
    groups : dict
        Report grouping fields, e.g. ``{"task": "sound", "difficulty": "easy"}``.
    record : dict
        The release record as read (used to write the official scripts' input files).
    """

    id: str
    audio: str
    question: str
    choices: list = None
    answer: str = None
    groups: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)


@dataclass
class Problem:
    """Something wrong with one record: ``where`` is the file, ``id`` the record, ``field`` the key."""

    where: str
    id: str
    field: str
    message: str

    def __str__(self):
        return f"{self.where}: record {self.id!r}, field {self.field!r}: {self.message}"


@dataclass
class PreparedSet:
    """A benchmark read from disk: usable items, problems, and what was read.

    ``items`` excludes records with problems; ``unusable_items`` holds records that parsed but whose
    audio is missing (they can still be grouped in a strict report).
    """

    benchmark: str
    source: str
    items: list
    problems: list
    version: str = None
    split: str = None
    unusable_items: list = field(default_factory=list)
    records: int = None
    release: str = None  # which official file this is (evaluation.releases), or why it is not known

    @property
    def num_records(self):
        """Records in the release file (usable, missing audio and malformed)."""
        if self.records is not None:
            return self.records
        return len(self.items) + len(self.bad_ids)

    @property
    def bad_ids(self):
        """Ids of the records with problems (in order of first problem)."""
        return list(dict.fromkeys(p.id for p in self.problems))


class IncompleteSetError(RuntimeError):
    """The prepared set has missing audio or malformed records and incompleteness was not allowed."""


def _load_records(path):
    """A JSON list or JSONL file as ``[(record_number, record_or_error)]``."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
        return list(enumerate(data))
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                records.append((number, json.loads(line)))
            except json.JSONDecodeError as e:
                records.append((number, ValueError(f"line {number} is not valid JSON ({e})")))
    return records


def _find_file(folder, names, what):
    """The first of ``names`` in ``folder`` (or ``folder`` itself when it is a file)."""
    if os.path.isfile(folder):
        return folder
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"No {what} in {folder} (looked for {', '.join(names)})")


def _resolve_audio(base, path, search_dirs=()):
    """``path`` relative to ``base``; else its file name in one of ``search_dirs`` under ``base``."""
    candidate = path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))
    if os.path.isfile(candidate):
        return candidate
    for sub in search_dirs:
        alt = os.path.join(base, sub, os.path.basename(path))
        if os.path.isfile(alt):
            return alt
    return candidate


class _RecordChecker:
    """Collects :class:`Problem` s for one record while its fields are read."""

    def __init__(self, where, rid):
        self.where, self.id, self.problems = where, rid, []

    def fail(self, key, message):
        """Record a problem with ``key``; returns None."""
        self.problems.append(Problem(self.where, self.id, key, message))

    def text(self, record, key, allow_empty=False, optional=False):
        """A string field."""
        value = record.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or (not allow_empty and not value.strip()):
            return self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def one_of(self, record, key, allowed):
        """A string field with a fixed set of values."""
        value = record.get(key)
        if value not in allowed:
            return self.fail(key, f"expected one of {list(allowed)}, got {value!r}")
        return value

    def choices(self, value, key="choices"):
        """A list of at least two strings."""
        if not isinstance(value, list) or len(value) < 2 or not all(isinstance(c, str) for c in value):
            return self.fail(key, f"expected a list of at least 2 strings, got {value!r}")
        return value

    def answer(self, record, key, choices, required=True):
        """The correct answer's text (None where withheld: absent, or ``""`` as the MMAU test split has it).

        An answer that is not verbatim one of ``choices`` is kept, with a warning: the official
        scorers match the answer text in the prediction and never need it to be an option (MMAR's
        2025 release has six such answers, e.g. ``'2040'`` for the option ``'2040 '``).
        """
        value = record.get(key)
        if not required and (value is None or value == ""):
            return None
        if not isinstance(value, str) or not value.strip():
            return self.fail(key, f"expected the text of one option, got {value!r}")
        if choices is not None and value not in choices:
            logger.warning(
                f"{self.where}, record {self.id!r}: answer {value!r} is not verbatim one of the options {choices}; "
                "scored by the official rule (its words in the prediction) all the same"
            )
        return value

    def audio(self, path, key):
        """An existing audio file."""
        if not os.path.isfile(path):
            return self.fail(key, f"audio file not found: {path}")
        return path


def _collect(benchmark, path, records, parse, **info):
    """Parse every record with ``parse(number, record) -> (item, problems)``; check id uniqueness."""
    items, problems, unusable, seen = [], [], [], set()
    for number, record in records:
        if isinstance(record, Exception):
            problems.append(Problem(path, f"#{number}", "", str(record)))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(path, f"#{number}", "", f"expected an object, got {record!r}"))
            continue
        item, found = parse(number, record)
        if item is not None and item.id in seen:
            found.append(Problem(path, item.id, "id", "duplicate id"))
        elif item is not None:
            seen.add(item.id)
        if found:
            problems.extend(found)
            if item is not None and all(p.field in ("audio_id", "audio_path", "audio") for p in found):
                unusable.append(item)
        else:
            items.append(item)
    return PreparedSet(benchmark, path, items, problems, unusable_items=unusable, records=len(records), **info)


def _release_of(path, benchmark, split=None, version=None, unofficial=None):
    """``(version, release text)`` of a benchmark file: told by its content when it is a known release.

    A ``version`` that contradicts a known file is an error; an unknown file needs one for MMAU
    (scores compare only within a release) and is scored with a warning, unless the caller says
    what it is (``unofficial``, e.g. the demo's generated test).
    """
    if unofficial is not None:
        return version, f"{unofficial} (not an official file), {benchmark} {version or ''} layout".rstrip()
    release = identify(path)
    if release is not None:
        if release.benchmark != benchmark or (split is not None and release.split != split):
            what = f"{release.benchmark} {release.split}"
            raise ValueError(f"{path} is {release}: the {what} file, not {benchmark} {split}")
        if version is not None and version != release.version:
            raise ValueError(f"{path} is {release}; the version given, {version!r}, contradicts it")
        return release.version, str(release)
    if benchmark == "mmau" and version is None:
        raise ValueError(
            f"{path} is not a known official MMAU file (edited, re-hosted or converted): say which release it "
            f"follows with version= (--version {' or '.join(MMAU_VERSIONS)}); scores compare only within one"
        )
    logger.warning(f"{path} is not a known official {benchmark} release file; scoring it as given ({version})")
    return version, f"not a known official file ({os.path.basename(path)}), scored as {version or 'given'}"


def read_mmau(folder, split="test-mini", version=None, unofficial=None):
    """Read MMAU ``test-mini`` or ``test`` (2024 or v05.15.25 layout) from a local copy.

    Arguments
    ---------
    folder : str
        Folder holding ``mmau-<split>.json`` and the audio (``test-mini-audios/`` or
        ``test-audios/``), or the JSON file itself.
    split : str
        ``"test-mini"`` or ``"test"`` (answers withheld: ``answer`` may be absent).
    version : str
        ``"2024"`` or ``"v05.15.25"``: which release this copy is (recorded in reports).

    Returns
    -------
    PreparedSet

    Example
    -------
    >>> import json, os
    >>> folder = getfixture("tmpdir").strpath
    >>> os.makedirs(folder + "/test-mini-audios")
    >>> open(folder + "/test-mini-audios/q1.wav", "w").close()
    >>> rec = {"id": "q1", "audio_id": "./test-mini-audios/q1.wav", "question": "Who?",
    ...        "choices": ["Man", "Woman"], "answer": "Man", "task": "speech",
    ...        "category": "Reasoning", "sub-category": "Speaker", "difficulty": "easy"}
    >>> json.dump([rec, dict(rec, id="q2", audio_id="./test-mini-audios/q2.wav")],
    ...           open(folder + "/mmau-test-mini.json", "w"))
    >>> data = read_mmau(folder, unofficial="a doctest's file")
    >>> [i.id for i in data.items], [str(p).split(": ", 1)[1] for p in data.problems]
    (['q1'], ["record 'q2', field 'audio_id': audio file not found: .../q2.wav"])
    """
    if split not in MMAU_SPLITS:
        raise ValueError(f"MMAU split must be one of {MMAU_SPLITS}, got {split!r}")
    if version is not None and version not in MMAU_VERSIONS:
        raise ValueError(f"MMAU version must be one of {MMAU_VERSIONS}, got {version!r}")
    path = _find_file(folder, [f"mmau-{split}.json", f"mmau_{split.replace('-', '_')}.json"], "MMAU JSON")
    version, release = _release_of(path, "mmau", split, version, unofficial)
    base = os.path.dirname(os.path.abspath(path))
    audio_dirs = (f"{split}-audios", "test-mini-audios", "test-audios", "audios", "audio")

    def parse(number, record):
        """One released record as a checked benchmark item (errors name the file and record)."""
        audio_id = record.get("audio_id")
        rid = record.get("id")
        if rid is None and isinstance(audio_id, str):  # 2024 first upload: no id field
            rid = os.path.splitext(os.path.basename(audio_id))[0]
        check = _RecordChecker(path, str(rid) if rid is not None else f"#{number}")
        if not isinstance(rid, str) or not rid:
            check.fail("id", f"expected a non-empty string, got {rid!r}")
        question = check.text(record, "question")
        choices = check.choices(record.get("choices"))
        answer = check.answer(record, "answer", choices, required=split == "test-mini")
        task = check.one_of(record, "task", MMAU_TASKS)
        difficulty = check.one_of(record, "difficulty", MMAU_DIFFICULTIES)
        category = record.get("category")
        if isinstance(category, list) and all(isinstance(c, str) for c in category):
            category = " + ".join(category)  # 13 test-mini records store a list
        elif not isinstance(category, str):
            check.fail("category", f"expected a string or list of strings, got {category!r}")
        subcategory = check.text(record, "sub-category", optional=True)
        if not isinstance(audio_id, str) or not audio_id:
            return None, check.problems + [Problem(path, check.id, "audio_id", f"expected a path, got {audio_id!r}")]
        audio = _resolve_audio(base, audio_id, audio_dirs)
        if check.problems:
            return None, check.problems
        groups = {"task": task, "category": category, "sub-category": subcategory, "difficulty": difficulty}
        item = Item(rid, audio, question, choices, answer, groups, record)
        check.audio(audio, "audio_id")
        return item, check.problems

    records = _load_records(path)
    return _collect("mmau", path, records, parse, version=version, split=split, release=release)


def read_mmar(folder):
    """Read MMAR (``MMAR-meta.jsonl`` or ``MMAR-meta.json``) from a local copy.

    Example
    -------
    >>> import json, os
    >>> folder = getfixture("tmpdir").strpath
    >>> rec = {"id": "m1", "audio_path": "./audio/m1.wav", "question": "Which?", "choices": ["x", "y"],
    ...        "answer": "z", "modality": "speech", "category": "Signal Layer", "sub-category": "s"}
    >>> with open(folder + "/MMAR-meta.jsonl", "w") as f:
    ...     _ = f.write(json.dumps(rec) + "\\n")
    >>> [p.field for p in read_mmar(folder).problems]
    ['audio_path']
    >>> read_mmar(folder).unusable_items[0].answer  # not an option: kept, with a warning
    'z'
    """
    path = _find_file(folder, ["MMAR-meta.jsonl", "MMAR-meta.json"], "MMAR metadata")
    base = os.path.dirname(os.path.abspath(path))

    def parse(number, record):
        """One released record as a checked benchmark item (errors name the file and record)."""
        check = _RecordChecker(path, str(record.get("id", f"#{number}")))
        rid = check.text(record, "id")
        question = check.text(record, "question")
        choices = check.choices(record.get("choices"))
        answer = check.answer(record, "answer", choices)
        modality = check.one_of(record, "modality", MMAR_MODALITIES)
        layer = check.one_of(record, "category", MMAR_LAYERS)
        subcategory = check.text(record, "sub-category", optional=True)
        audio_path = check.text(record, "audio_path")
        if check.problems:
            return None, check.problems
        audio = _resolve_audio(base, audio_path, ("audio", "mmar-audio"))
        groups = {"modality": modality, "category": layer, "sub-category": subcategory}
        item = Item(rid, audio, question, choices, answer, groups, record)
        check.audio(audio, "audio_path")
        return item, check.problems

    version, release = _release_of(path, "mmar")
    return _collect("mmar", path, _load_records(path), parse, version=version, release=release)


MMSU_CHOICE_KEYS = ("choice_a", "choice_b", "choice_c", "choice_d")


PARQUET_AUDIO_DIR = "mmsu_parquet_audio"  # where read_mmsu writes the clips the parquet release embeds
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$")
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")


def _parquet_records(folder):
    """The records of every ``*.parquet`` file under ``folder``, with embedded audio written out.

    The HF release (``ddwang2000/MMSU``) stores each clip in an ``audio`` struct (``bytes``,
    ``path``). The bytes are written once to ``folder/mmsu_parquet_audio/<id><suffix>`` and the
    record's ``audio_path`` points there; an id that is not a plain file name is reported, not used.
    """
    try:
        import pyarrow.parquet as pq
    except ImportError:  # declared, but a user may have installed without it
        raise ImportError("Reading the MMSU parquet release needs pyarrow: pip install pyarrow") from None
    out_dir = os.path.join(folder, PARQUET_AUDIO_DIR)
    records, number = [], 0
    for path in sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True)):
        try:
            batches = pq.ParquetFile(path).iter_batches(batch_size=64)
            for batch in batches:
                for record in batch.to_pylist():
                    number += 1
                    records.append((number, _with_audio_file(record, out_dir, path)))
        except Exception as e:  # pyarrow's errors name neither the file nor what is wrong with it for a user
            raise ValueError(f"{path}: not a readable parquet file ({type(e).__name__}: {e})") from None
    return records


def _with_audio_file(record, out_dir, source):
    """``record`` with its embedded clip written to ``out_dir`` and named by ``audio_path``."""
    audio = record.get("audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("bytes"), bytes):
        return record
    rid = str(record.get("id", ""))
    if not _SAFE_NAME.match(rid) or ".." in rid:
        return ValueError(f"{source}: record id {rid!r} is not a plain file name, so its audio is not written")
    suffix = os.path.splitext(audio.get("path") or "")[1].lower()
    target = os.path.join(out_dir, rid + (suffix if suffix in _AUDIO_SUFFIXES else ".wav"))
    if not (os.path.isfile(target) and os.path.getsize(target) == len(audio["bytes"])):
        os.makedirs(out_dir, exist_ok=True)
        with open(target + ".tmp", "wb") as f:
            f.write(audio["bytes"])
        os.replace(target + ".tmp", target)
    return {k: v for k, v in record.items() if k != "audio"} | {"audio_path": target}


def read_mmsu(folder):
    """Read MMSU: the HF parquet release (``ddwang2000/MMSU``) or DIFFA's local ``mmsu.jsonl`` copy.

    ``choice_c`` / ``choice_d`` may be null (two- or three-option items). From parquet, the
    embedded clips are written once under ``folder/mmsu_parquet_audio`` (see :func:`_parquet_records`).

    Example
    -------
    >>> import json
    >>> folder = getfixture("tmpdir").strpath
    >>> open(folder + "/a.wav", "w").close()
    >>> rec = {"id": "s1", "audio_path": "a.wav", "question": "Tone?", "choice_a": "rising",
    ...        "choice_b": "falling", "choice_c": None, "answer_gt": "falling", "task_name": "tone",
    ...        "category": "perception", "sub-category": "phonology"}
    >>> with open(folder + "/mmsu.jsonl", "w") as f:
    ...     _ = f.write(json.dumps(rec) + "\\n")
    >>> item = read_mmsu(folder).items[0]
    >>> item.choices, item.answer, item.groups["task"]
    (['rising', 'falling'], 'falling', 'tone')
    """
    no_json = os.path.isdir(folder) and not glob.glob(os.path.join(folder, "*.json*"))
    if no_json and glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True):
        path = base = os.path.abspath(folder)
        records = _parquet_records(path)
        release = f"the HF parquet release (ddwang2000/MMSU layout) in {path}"
    else:
        path = _find_file(folder, ["mmsu.jsonl", "MMSU.jsonl", "mmsu.json"], "MMSU JSONL")
        base = os.path.dirname(os.path.abspath(path))
        records = _load_records(path)
        release = "DIFFA's local JSON copy (no official file to compare with)"

    def parse(number, record):
        """One released record as a checked benchmark item (errors name the file and record)."""
        check = _RecordChecker(path, str(record.get("id", f"#{number}")))
        rid = record.get("id")
        if isinstance(rid, int):
            rid = str(rid)
        if not isinstance(rid, str) or not rid:
            check.fail("id", f"expected a non-empty string, got {rid!r}")
        question = check.text(record, "question")
        # As DIFFA-2's inference script: options that are null or absent are left out.
        choices = [check.text(record, k, allow_empty=True) for k in MMSU_CHOICE_KEYS if record.get(k) is not None]
        if len(choices) < 2:
            check.fail("choice_a", f"expected at least choice_a and choice_b, got {len(choices)} options")
        answer = check.answer(record, "answer_gt", choices)
        groups = {"category": check.text(record, "category")}
        for key in ("sub-category", "sub-sub-category", "linguistics_sub_discipline"):
            groups[key] = check.text(record, key, allow_empty=True, optional=True)
        groups["task"] = check.text(record, "task_name")
        audio_path = record.get("audio_path") or (record.get("audio") or {}).get("path")
        if not isinstance(audio_path, str) or not audio_path:
            check.fail("audio_path", f"expected a path, got {audio_path!r}")
        if check.problems:
            return None, check.problems
        audio = _resolve_audio(base, audio_path, ("audio", "audios"))
        item = Item(rid, audio, question, choices, answer, groups, record)
        check.audio(audio, "audio_path")
        return item, check.problems

    return _collect("mmsu", path, records, parse, release=release)


def read_librispeech(folder, subset="test-clean"):
    """Read a LibriSpeech subset: one :class:`Item` per utterance, the transcript as answer.

    Example
    -------
    >>> import os
    >>> d = os.path.join(getfixture("tmpdir").strpath, "LibriSpeech", "test-clean", "1", "2")
    >>> os.makedirs(d)
    >>> with open(os.path.join(d, "1-2.trans.txt"), "w") as f:
    ...     _ = f.write("1-2-0000 HELLO WORLD\\n1-2-0001 GOOD BYE\\n")
    >>> open(os.path.join(d, "1-2-0000.flac"), "w").close()
    >>> data = read_librispeech(getfixture("tmpdir").strpath)
    >>> [(i.id, i.answer) for i in data.items], [p.id for p in data.problems]
    ([('1-2-0000', 'HELLO WORLD')], ['1-2-0001'])
    """
    root = os.path.join(folder, "LibriSpeech", subset)
    if not os.path.isdir(root):
        root = os.path.join(folder, subset)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"No LibriSpeech {subset} under {folder} (tried LibriSpeech/{subset}, {subset})")
    transcripts = sorted(glob.glob(os.path.join(root, "*", "*", "*.trans.txt")))
    if not transcripts:
        raise FileNotFoundError(f"No *.trans.txt files under {root}")
    records = []
    for trans in transcripts:
        with open(trans, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    records.append((number, {"_file": trans, "_line": line.rstrip("\n")}))

    def parse(number, record):
        """One released record as a checked benchmark item (errors name the file and record)."""
        uid, _, text = record["_line"].partition(" ")
        check = _RecordChecker(record["_file"], uid or f"line {number}")
        if not uid or not text.strip():
            check.fail("transcript", f"line {number}: expected '<utterance-id> <TRANSCRIPT>'")
            return None, check.problems
        audio = os.path.join(os.path.dirname(record["_file"]), uid + ".flac")
        speaker = uid.split("-")[0]
        item = Item(uid, audio, "", None, text.strip(), {"speaker": speaker}, {"id": uid, "text": text.strip()})
        check.audio(audio, "audio")
        return item, check.problems

    return _collect("librispeech", root, records, parse, split=subset)


def prepare(benchmark, folder, **options):
    """Read ``benchmark`` from ``folder`` (dispatches to the ``read_*`` functions).

    Example
    -------
    >>> prepare("voicebench", ".")
    Traceback (most recent call last):
    ...
    ValueError: Unknown benchmark 'voicebench'; expected one of ('mmau', 'mmar', 'mmsu', 'librispeech')
    """
    readers = {"mmau": read_mmau, "mmar": read_mmar, "mmsu": read_mmsu, "librispeech": read_librispeech}
    if benchmark not in readers:
        raise ValueError(f"Unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")
    return readers[benchmark](folder, **options)


def check_complete(prepared, allow_incomplete=False, show=20):
    """Refuse a set with problems, or (when allowed) log how many items are left out.

    Example
    -------
    >>> data = PreparedSet("mmar", "meta.jsonl", [], [Problem("meta.jsonl", "m1", "answer", "bad")])
    >>> check_complete(data)
    Traceback (most recent call last):
    ...
    speechbrain_diffa.evaluation.benchmarks.IncompleteSetError: mmar: 1 of 1 records cannot be used...
    >>> check_complete(data, allow_incomplete=True)
    1
    """
    if not prepared.problems:
        return 0
    count = len(prepared.bad_ids)
    listing = "\n".join(f"  {p}" for p in prepared.problems[:show])
    more = f"\n  ... and {len(prepared.problems) - show} more problems" if len(prepared.problems) > show else ""
    summary = f"{prepared.benchmark}: {count} of {prepared.num_records} records cannot be used"
    if not allow_incomplete:
        raise IncompleteSetError(
            f"{summary}:\n{listing}{more}\nFix the copy, or pass allow_incomplete "
            "(--allow_incomplete) to score the rest; strict reports then count them as wrong."
        )
    logger.warning("%s (scoring the other %d):\n%s%s", summary, len(prepared.items), listing, more)
    return count
