"""Training manifests: read, validate, and turn into SpeechBrain datasets.

A manifest is a JSON list (or JSON Lines) of records in the DIFFA release fields::

    {"id": "utt1", "audio_filepath": "{data_root}/a.wav", "duration": 3.2,
     "input": "What is said?", "target": "hello world"}

Stage 4 records add ``chosen`` and ``rejected`` (``chosen`` defaults to ``target``, as in the
release). Every record is checked before training starts; problems are reported with the
manifest file, the record (id and index) and the field, and the run does not start unless
``skip_bad`` is set, in which case every skipped record is listed in the log and in a report.

Authors
 * speechbrain_diffa contributors 2026
"""

import json
import math
import os

from speechbrain.utils.logger import get_logger

logger = get_logger(__name__)

SFT_FIELDS = ("audio_filepath", "duration", "input", "target")
# Names the dataset computes for each item; a record may not bring its own.
RESERVED_FIELDS = ("sig", "ids", "chosen_ids", "rejected_ids", "prompt_length", "splice_at")
PREFERENCE_FIELDS = ("audio_filepath", "duration", "input", "chosen", "rejected")


class ManifestError(ValueError):
    """A manifest that cannot be trained on; the message lists every problem found."""


def read_manifest(path):
    """Records of a JSON list, a JSON object keyed by id, or JSON Lines file.

    Arguments
    ---------
    path : str
        Manifest file.

    Returns
    -------
    list of dict
        Records in file order; an ``id`` is added from the key (dict form) when missing.

    Example
    -------
    >>> path = getfixture("tmpdir") / "m.jsonl"
    >>> _ = path.write_text('{"id": "a", "input": "q"}\\n{"id": "b", "input": "r"}\\n', "utf-8")
    >>> [r["id"] for r in read_manifest(str(path))]
    ['a', 'b']
    """
    if not os.path.isfile(path):
        raise ManifestError(f"Manifest {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ManifestError(f"{path} is not UTF-8 text (byte {err.start}): re-save it as UTF-8") from None
    if path.endswith(".jsonl"):
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}, line {number}: not valid JSON ({err.msg})") from None
    else:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise ManifestError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        if isinstance(records, dict):
            not_records = [key for key, value in records.items() if not isinstance(value, dict)]
            if not_records:
                raise ManifestError(f"{path}: the value of key {not_records[0]!r} is not a record (a JSON object)")
            records = [dict(value, id=value.get("id", key)) for key, value in records.items()]
    if not isinstance(records, list):
        raise ManifestError(f"{path}: expected a list of records (JSON objects), got a JSON {type(records).__name__}")
    not_records = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if not_records:
        raise ManifestError(f"{path}: record #{not_records[0]} is not a JSON object ({records[not_records[0]]!r:.60})")
    return records


def record_problems(record, fields, data_root="", allow_outside=False):
    """What is wrong with one record, as ``(field, problem)`` pairs (empty: fine).

    Arguments
    ---------
    record : dict
        One manifest record.
    fields : sequence of str
        Required fields (:data:`SFT_FIELDS` or :data:`PREFERENCE_FIELDS`).
    data_root : str
        Replaces ``{data_root}`` in ``audio_filepath``; with one, every audio file must lie inside it
        (symbolic links followed) unless ``allow_outside``.
    allow_outside : bool
        Accept audio files outside ``data_root`` (absolute paths elsewhere, ``..``).

    Example
    -------
    >>> record_problems({"audio_filepath": "/etc/passwd", "duration": 1, "input": "q", "target": "a"},
    ...                 SFT_FIELDS, data_root="/data")
    [('audio_filepath', "'/etc/passwd' is outside the data folder /data (audio_outside_data_folder: True allows it)")]
    >>> record_problems({"audio_filepath": "/nope.wav", "duration": -1, "input": "q", "target": ""},
    ...                 SFT_FIELDS)
    [('audio_filepath', 'file /nope.wav does not exist'), ('duration', 'must be a positive number, got -1'),
     ('target', 'is empty')]
    """
    problems = [(field, "is computed by the dataset; rename it") for field in RESERVED_FIELDS if field in record]
    for field in fields:
        value = record.get(field)
        if field == "chosen" and value is None:
            value = record.get("target")  # the release's default chosen answer
        if value is None:
            problems.append((field, "is missing"))
        elif field == "audio_filepath":
            if not isinstance(value, str) or not value.strip():
                problems.append((field, f"must be a file path, got {value!r}"))
                continue
            path = resolve_path(value, data_root)
            root = os.path.realpath(data_root) if data_root else ""
            inside = os.path.realpath(path).startswith(root + os.sep)
            if "{data_root}" in value and data_root and not inside:
                problems.append((field, f"{value!r} leads out of the data folder {data_root}"))
            elif data_root and not allow_outside and not inside:
                problems.append(
                    (
                        field,
                        f"{value!r} is outside the data folder {data_root} (audio_outside_data_folder: True allows it)",
                    )
                )
            elif not os.path.isfile(path):
                problems.append((field, f"file {path} does not exist"))
            else:
                problems += [(field, p) for p in _audio_header_problems(path)]
        elif field == "duration":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not ok or not math.isfinite(value) or value <= 0:
                problems.append((field, f"must be a positive number, got {value!r}"))
        elif not isinstance(value, str):
            problems.append((field, f"must be text, got {type(value).__name__}"))
        elif not value.strip():
            problems.append((field, "is empty"))
    return problems


def _audio_header_problems(path):
    """Whether soundfile can read ``path``'s header (cheap: the samples are not decoded)."""
    from speechbrain.dataio import audio_io

    try:
        info = audio_io.info(path)
    except RuntimeError as err:
        return [f"file {path} is not readable audio ({str(err.__cause__ or err).splitlines()[0][:120]})"]
    return [] if info.frames > 0 else [f"file {path} holds no samples"]


def resolve_path(path, data_root=""):
    """``path`` with ``{data_root}`` replaced (SpeechBrain's manifest convention).

    Example
    -------
    >>> resolve_path("{data_root}/a.wav", "/data")
    '/data/a.wav'
    """
    return path.replace("{data_root}", data_root) if data_root else path


def validated_records(path, fields=SFT_FIELDS, data_root="", skip_bad=False, report_path=None, allow_outside=False):
    """Read a manifest and check every record; refuse it if anything is wrong.

    Arguments
    ---------
    path : str
        Manifest file.
    fields : sequence of str
        Required fields.
    data_root : str
        Replaces ``{data_root}`` in audio paths; audio outside it is refused unless ``allow_outside``.
    skip_bad : bool
        Drop bad records instead of refusing the manifest; each one is logged and written to
        ``report_path``.
    report_path : str
        JSON file listing the skipped records and why (written only when some are skipped).
    allow_outside : bool
        Accept audio files outside ``data_root``.

    Returns
    -------
    dict
        ``{id: record}`` with ``audio_filepath`` resolved, ready for ``DynamicItemDataset``
        (which takes the id from the key).

    Example
    -------
    >>> import pytest
    >>> path = getfixture("tmpdir") / "bad.json"
    >>> _ = path.write_text('[{"id": "u1", "audio_filepath": "/none.wav", "duration": 1,'
    ...                     ' "input": "q", "target": "a"}]', "utf-8")
    >>> with pytest.raises(ManifestError, match="record 'u1'.*audio_filepath"):
    ...     validated_records(str(path))
    """
    records = read_manifest(path)
    if not records:
        raise ManifestError(f"Manifest {path} has no records")
    data, bad, seen = {}, [], set()
    for index, record in enumerate(records):
        item_id = str(record.get("id", f"{os.path.splitext(os.path.basename(path))[0]}-{index}"))
        problems = record_problems(record, fields, data_root, allow_outside)
        if item_id in seen:
            problems.append(("id", "is a duplicate"))
        seen.add(item_id)
        if problems:
            bad.append({"id": item_id, "index": index, "problems": [f"{f} {p}" for f, p in problems]})
            continue
        item = {k: v for k, v in record.items() if k != "id"}  # the dict key is the id
        item["audio_filepath"] = resolve_path(record["audio_filepath"], data_root)
        if "chosen" in fields and item.get("chosen") is None:
            item["chosen"] = item["target"]
        data[item_id] = item
    if bad and not skip_bad:
        lines = [f"  record {b['id']!r} (#{b['index']}): {'; '.join(b['problems'])}" for b in bad[:20]]
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise ManifestError(
            f"{path}: {len(bad)} of {len(records)} records are unusable (pass skip_bad=True to "
            f"train without them):\n" + "\n".join(lines) + more
        )
    if bad:
        for b in bad:
            logger.warning(f"{path}: skipping record {b['id']!r} (#{b['index']}): {'; '.join(b['problems'])}")
        logger.warning(f"{path}: skipped {len(bad)} of {len(records)} records")
        if report_path:
            with open(report_path, "w", encoding="utf-8") as f:
                json.dump({"manifest": path, "skipped": bad}, f, indent=2, ensure_ascii=False)
    if not data:
        raise ManifestError(f"{path}: no usable records")
    return data


def write_manifest(records, path):
    """Write records as a JSON list (``.json``) or JSON Lines (``.jsonl``), UTF-8.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "out.jsonl")
    >>> write_manifest([{"id": "a"}], path)
    >>> read_manifest(path)
    [{'id': 'a'}]
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        if path.endswith(".jsonl"):
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            json.dump(list(records), f, indent=1, ensure_ascii=False)
