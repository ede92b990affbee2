"""Data preparation for the DIFFA-2 curriculum: corpora in, validated training manifests out.

Every function here writes a manifest in the format of :mod:`speechbrain_diffa.data.manifests`::

    {"id": "1089-134686-0000", "audio_filepath": "{data_root}/test-clean/1089/134686/...flac",
     "duration": 10.435, "input": "Transcribe the audio.", "target": "He hoped there would...",
     "dataset": "librispeech"}

- stage 1 (ASR): :func:`prepare_librispeech`, :func:`prepare_kaldi` (any corpus in Kaldi's
  ``wav.scp`` + ``text`` layout); the instruction is drawn per utterance from
  :data:`ASR_TEMPLATES`, a pool of 25 paraphrases of "transcribe the audio" (DIFFA-2 used 25
  templates written by Qwen3-32B; these are our own).
- stages 2-3 (audio QA): :func:`import_audio_qa`, a generic JSON / JSONL / CSV importer with
  configurable field names and multiple-choice questions formatted as in DIFFA-2's MMAU prompt.
- stage 4 (VRPO): :func:`make_preference_pairs` joins an SFT manifest with rejected answers.

Every record is checked before anything is written (audio file present and readable, positive
duration, non-empty instruction and target, unique id). Problems are reported with the output
file, the record (id, index and where it came from) and the field, and nothing is written unless
``skip_bad=True``; then the good records are written and every skipped one is listed, with why,
in ``<manifest stem>.skipped.json`` next to the manifest. Nothing is dropped silently.

Like SpeechBrain's ``<dataset>_prepare.py`` scripts, each function does nothing when
``skip_prep=True``, and skips work whose outputs already exist and were made with the same
options (saved in ``<manifest stem>.opts.json``) unless ``overwrite=True``. In a multi-GPU
recipe call them through ``speechbrain.utils.distributed.run_on_main``.

Authors
 * speechbrain_diffa contributors 2026
"""

import csv
import glob
import hashlib
import json
import os
import re

from speechbrain.dataio import audio_io
from speechbrain.utils.logger import get_logger

from speechbrain_diffa.data.manifests import (
    PREFERENCE_FIELDS,
    SFT_FIELDS,
    ManifestError,
    read_manifest,
    record_problems,
    resolve_path,
    write_manifest,
)
from speechbrain_diffa.prompts import MMAU_PROMPT, format_choices

logger = get_logger(__name__)

# Our own paraphrases of "transcribe the audio", in the spirit of DIFFA-2's 25 Qwen3-32B-written
# stage-1 templates (paper, section on stage 1); one is drawn per utterance by pick_template.
ASR_TEMPLATES = (
    "Transcribe the audio.",
    "Please write down exactly what is said in this recording.",
    "Convert the speech in this clip into text.",
    "What words are spoken in the audio? Write them out.",
    "Give a verbatim transcript of the speech.",
    "Listen to the recording and type out what the speaker says.",
    "Turn this spoken audio into written text.",
    "Provide the transcription of this audio clip.",
    "Write out the spoken content of the recording, word for word.",
    "Could you transcribe what you hear in this audio?",
    "Produce a text version of the speech in the clip.",
    "Return the exact words spoken in this audio.",
    "Transcribe the speaker's words without adding anything else.",
    "What does the speaker say? Answer with the transcript only.",
    "Put the speech from this recording into text.",
    "Generate an accurate transcript of the audio.",
    "Please convert this recording of speech into written words.",
    "Write the transcript of the utterance you just heard.",
    "Listen carefully and transcribe the audio exactly.",
    "Render the spoken words in this clip as plain text.",
    "Recognize the speech in this audio and output the text.",
    "Type out everything that is said in the recording.",
    "Provide a word-for-word written record of this speech.",
    "Transcribe this clip, keeping the speaker's exact wording.",
    "Write down the spoken words from the audio, nothing more.",
)
TEXT_CASES = ("sentence", "lower", "raw")
QA_FIELDS = ("id", "audio_filepath", "duration", "input", "target", "choices")
MCQ_ANSWERS = ("text", "letter")


# ----------------------------------------------------------------------------------------------
# Small helpers: templates, transcripts, durations, paths
# ----------------------------------------------------------------------------------------------


def pick_template(utt_id, templates=ASR_TEMPLATES, seed=0):
    """The instruction for one utterance, drawn deterministically from ``templates``.

    The draw hashes ``(seed, utt_id)``, so it depends neither on the order of the corpus nor on
    the Python process (unlike ``hash``), and re-preparing a corpus gives the same manifest.

    Arguments
    ---------
    utt_id : str
        Utterance id.
    templates : sequence of str
        The pool of instructions.
    seed : int
        Changes every draw.

    Returns
    -------
    str

    Example
    -------
    >>> pick_template("1089-134686-0000") == pick_template("1089-134686-0000")
    True
    >>> len({pick_template(f"utt{i}") for i in range(500)})  # every template gets used
    25
    """
    if not templates:
        raise ValueError("The template pool is empty")
    digest = hashlib.sha256(f"{seed}\0{utt_id}".encode()).digest()
    return templates[int.from_bytes(digest[:8], "big") % len(templates)]


def normalize_transcript(text, case="sentence"):
    """Whitespace-normalised transcript in the chosen letter case.

    LibriSpeech transcripts are upper case without punctuation. ``"sentence"`` (the default)
    lower-cases them and capitalises the first letter and the pronoun "I": the form an
    instruction-tuned LLM such as LLaDA writes, tokenised into far fewer pieces than upper case,
    so stage 1 teaches listening rather than a shouting style. ASR scoring normalises case, so
    WER is unaffected. ``"raw"`` keeps the corpus text as it is (what the DIFFA release trains
    on); ``"lower"`` only lower-cases.

    Arguments
    ---------
    text : str
        Transcript.
    case : str
        One of ``"sentence"``, ``"lower"``, ``"raw"``.

    Example
    -------
    >>> normalize_transcript("I THINK  I'LL GO HOME")
    "I think I'll go home"
    >>> normalize_transcript("HELLO WORLD", "raw"), normalize_transcript("HELLO WORLD", "lower")
    ('HELLO WORLD', 'hello world')
    """
    if case not in TEXT_CASES:
        raise ValueError(f"case must be one of {TEXT_CASES}, got {case!r}")
    text = " ".join(text.split())
    if case == "raw":
        return text
    text = text.lower()
    if case == "sentence":
        text = re.sub(r"\bi\b", "I", text)  # also I'm, I'll, I've, I'd
        text = text[:1].upper() + text[1:]
    return text


def audio_duration(path):
    """Duration in seconds from the file header (soundfile; the audio is not decoded).

    Arguments
    ---------
    path : str
        Audio file.

    Returns
    -------
    float
        Seconds, rounded to 0.1 ms.

    Example
    -------
    >>> import numpy, soundfile
    >>> path = str(getfixture("tmpdir") / "a.flac")
    >>> soundfile.write(path, numpy.zeros(8000), 16000)
    >>> audio_duration(path)
    0.5
    """
    return round(audio_io.info(path).duration, 4)


def manifest_path(path, data_root=""):
    """The audio path to write: ``{data_root}/<relative path>`` for files under ``data_root``, else absolute.

    A relative ``path`` is taken relative to ``data_root`` (or the current folder without one);
    a path already using ``{data_root}`` is kept as it is.

    Arguments
    ---------
    path : str
        Audio path as the source gives it.
    data_root : str
        Folder that training's ``data_folder`` will point to.

    Example
    -------
    >>> manifest_path("/data/ls/a.flac", "/data/ls"), manifest_path("b/c.wav", "/data/ls")
    ('{data_root}/a.flac', '{data_root}/b/c.wav')
    >>> manifest_path("/elsewhere/a.wav", "/data/ls")
    '/elsewhere/a.wav'
    """
    if "{data_root}" in path:
        return path
    if not data_root:
        return os.path.abspath(path)
    full = os.path.abspath(os.path.join(data_root, path))  # join keeps an absolute path
    relative = os.path.relpath(full, os.path.abspath(data_root))
    if relative.startswith(os.pardir):
        return full
    return "{data_root}/" + relative.replace(os.sep, "/")


def _duration_or_problem(path):
    """``(duration, None)`` or ``(None, (field, problem))`` for an audio file."""
    if not os.path.isfile(path):
        return None, ("audio_filepath", f"file {path} does not exist")
    try:
        return audio_duration(path), None
    except RuntimeError as err:
        return None, ("audio_filepath", f"file {path} cannot be read ({err.__cause__ or err})")


# ----------------------------------------------------------------------------------------------
# Checked writing and SpeechBrain-style skipping
# ----------------------------------------------------------------------------------------------


def write_validated(candidates, save_path, fields=SFT_FIELDS, data_root="", skip_bad=False):
    """Check every record, then write the manifest, or refuse and write nothing.

    Arguments
    ---------
    candidates : list of tuple
        ``(record, origin, problems)``: the record (with ``id``), where it came from (e.g.
        ``"text line 3"``), and ``(field, problem)`` pairs already found while building it.
    save_path : str
        Manifest to write (``.json`` list or ``.jsonl``).
    fields : sequence of str
        Required fields, checked by :func:`speechbrain_diffa.data.manifests.record_problems`.
    data_root : str
        Replaces ``{data_root}`` in audio paths for the checks.
    skip_bad : bool
        Write the good records and list the others in ``<stem>.skipped.json``.

    Returns
    -------
    list of dict
        The skipped records (id, index, origin, problems); empty when all were good.

    Raises
    ------
    ManifestError
        When a record is bad and ``skip_bad`` is False, or when no record is good. The message
        names ``save_path`` and, per bad record, its id, index, origin and field.

    Example
    -------
    >>> import pytest
    >>> path = str(getfixture("tmpdir") / "m.json")
    >>> bad = ({"id": "u1", "audio_filepath": "/no.wav", "duration": 1.0, "input": "q",
    ...         "target": ""}, "text line 1", [])
    >>> with pytest.raises(ManifestError, match=r"record 'u1' \\(#0, text line 1\\): audio_filepath"):
    ...     write_validated([bad], path)
    >>> os.path.exists(path)
    False
    """
    good, skipped, seen = [], [], {}
    for index, (record, origin, problems) in enumerate(candidates):
        problems = list(problems)
        known = {field for field, _ in problems}  # what the builder found is more specific
        if "audio_filepath" in known:
            known.add("duration")  # read from the audio: its absence says nothing new
        problems += [p for p in record_problems(record, fields, data_root) if p[0] not in known]
        key = record.get("id")
        if key in (None, ""):
            problems.append(("id", "is missing"))
        elif key in seen:
            problems.append(("id", f"is a duplicate of record #{seen[key][0]} ({seen[key][1]})"))
        seen.setdefault(key, (index, origin))
        if problems:
            entry = {"id": key, "index": index, "origin": origin}
            skipped.append(dict(entry, problems=[f"{f} {p}" for f, p in problems]))
        else:
            good.append(record)
    if skipped and not skip_bad:
        raise ManifestError(_refusal(save_path, skipped, len(candidates)))
    if not good:
        raise ManifestError(f"{save_path}: no usable records (of {len(candidates)})")
    write_manifest(good, save_path)
    _write_skipped_report(save_path, skipped)
    logger.info(f"Wrote {save_path}: {len(good)} records, {len(skipped)} skipped")
    return skipped


def _refusal(save_path, skipped, total, shown=20):
    """The error message listing (the first ``shown``) bad records."""
    lines = [
        f"  record {s['id']!r} (#{s['index']}, {s['origin']}): {'; '.join(s['problems'])}" for s in skipped[:shown]
    ]
    more = f"\n  ... and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"{save_path}: {len(skipped)} of {total} records are unusable, nothing written (pass "
        f"skip_bad=True / --skip_bad to write the others and list these):\n" + "\n".join(lines) + more
    )


def side_file(save_path, suffix):
    """A file next to the manifest: ``asr_dev.json`` -> ``asr_dev<suffix>``.

    Example
    -------
    >>> side_file("/m/asr_dev.json", ".skipped.json")
    '/m/asr_dev.skipped.json'
    """
    return os.path.splitext(save_path)[0] + suffix


def _write_skipped_report(save_path, skipped):
    """List skipped records next to the manifest (and remove a stale list when none are)."""
    report = side_file(save_path, ".skipped.json")
    if not skipped:
        if os.path.exists(report):
            os.remove(report)
        return
    for s in skipped:
        logger.warning(f"{save_path}: skipped record {s['id']!r} ({s['origin']}): {'; '.join(s['problems'])}")
    with open(report, "w", encoding="utf-8") as f:
        json.dump({"manifest": save_path, "skipped": skipped}, f, indent=1, ensure_ascii=False)
    logger.warning(f"{save_path}: skipped {len(skipped)} records, listed in {report}")


def already_prepared(save_path, options):
    """Whether ``save_path`` exists and was written with the same ``options``.

    This is SpeechBrain's skip logic (``librispeech_prepare.skip``), with the options kept as
    readable JSON in ``<stem>.opts.json`` instead of a pickle.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "m.json")
    >>> write_manifest([{"id": "a"}], path)
    >>> already_prepared(path, {"seed": 0})
    False
    >>> save_options(path, {"seed": 0})
    >>> already_prepared(path, {"seed": 0}), already_prepared(path, {"seed": 1})
    (True, False)
    """
    opts = side_file(save_path, ".opts.json")
    if not (os.path.isfile(save_path) and os.path.isfile(opts)):
        return False
    with open(opts, encoding="utf-8") as f:
        try:
            return json.load(f) == json.loads(json.dumps(options))
        except json.JSONDecodeError:
            return False


def save_options(save_path, options):
    """Record the options that produced ``save_path`` (see :func:`already_prepared`).

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "m.json")
    >>> save_options(path, {"splits": ["dev-clean"]})
    >>> open(side_file(path, ".opts.json")).read()
    '{"splits": ["dev-clean"]}'
    """
    with open(side_file(save_path, ".opts.json"), "w", encoding="utf-8") as f:
        json.dump(options, f)


def _should_skip(save_path, options, overwrite):
    """True (and logged) when ``save_path`` is already prepared with ``options``."""
    if not overwrite and already_prepared(save_path, options):
        logger.info(f"{save_path} already prepared with the same options; skipping")
        return True
    return False


# ----------------------------------------------------------------------------------------------
# Stage 1: ASR corpora
# ----------------------------------------------------------------------------------------------


def prepare_librispeech(
    data_folder,
    splits,
    save_folder,
    templates=ASR_TEMPLATES,
    seed=0,
    text_case="sentence",
    skip_bad=False,
    overwrite=False,
    skip_prep=False,
):
    """Write ``asr_<split>.json`` stage-1 manifests for LibriSpeech splits.

    Reads ``<data_folder>/<split>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt`` and the
    ``.flac`` files beside it. Audio paths are written as ``{data_root}/<split>/...``, so
    training's ``data_folder`` must point to ``data_folder``. Durations come from the FLAC
    headers. A ``.flac`` without a transcript line, or a line without its ``.flac``, is a bad
    record (reported, never dropped silently).

    Arguments
    ---------
    data_folder : str
        The LibriSpeech folder (holding ``train-clean-100`` etc.).
    splits : list of str
        Split folders to prepare, e.g. ``["train-clean-100", "dev-clean"]``.
    save_folder : str
        Where the manifests go.
    templates : sequence of str
        Instruction pool; one is drawn per utterance with :func:`pick_template`.
    seed : int
        Seed of the template draw.
    text_case : str
        ``"sentence"``, ``"lower"`` or ``"raw"``; see :func:`normalize_transcript`.
    skip_bad : bool
        Write the good records and list the bad ones (see :func:`write_validated`).
    overwrite : bool
        Prepare again even if the outputs exist with the same options.
    skip_prep : bool
        Do nothing (SpeechBrain's recipe flag).

    Returns
    -------
    dict
        ``{split: manifest path}`` (empty with ``skip_prep``).

    Example
    -------
    >>> import numpy, soundfile
    >>> root = getfixture("tmpdir")
    >>> chapter = root.mkdir("dev-clean").mkdir("84").mkdir("121123")
    >>> soundfile.write(str(chapter / "84-121123-0000.flac"), numpy.zeros(4000), 16000)
    >>> _ = (chapter / "84-121123.trans.txt").write_text("84-121123-0000 GO I SAY\\n", "utf-8")
    >>> paths = prepare_librispeech(str(root), ["dev-clean"], str(root))
    >>> record = read_manifest(paths["dev-clean"])[0]
    >>> record["audio_filepath"], record["duration"], record["target"]
    ('{data_root}/dev-clean/84/121123/84-121123-0000.flac', 0.25, 'Go I say')
    """
    if skip_prep:
        return {}
    outputs = {}
    for split in splits:
        save_path = os.path.join(save_folder, f"asr_{split}.json")
        options = dict(
            data_folder=os.path.abspath(data_folder),
            split=split,
            templates=list(templates),
            seed=seed,
            text_case=text_case,
            skip_bad=skip_bad,
        )
        outputs[split] = save_path
        if _should_skip(save_path, options, overwrite):
            continue
        candidates = _librispeech_candidates(data_folder, split, templates, seed, text_case)
        write_validated(candidates, save_path, SFT_FIELDS, data_folder, skip_bad)
        save_options(save_path, options)
    return outputs


def _librispeech_candidates(data_folder, split, templates, seed, text_case):
    """``(record, origin, problems)`` for every utterance of one split."""
    split_dir = os.path.join(data_folder, split)
    if not os.path.isdir(split_dir):
        raise FileNotFoundError(
            f"LibriSpeech split folder {split_dir} not found (expected <data_folder>/<split>/<speaker>/<chapter>/)"
        )
    transcripts = {}  # id -> (text, origin)
    for trans in sorted(glob.glob(os.path.join(split_dir, "*", "*", "*.trans.txt"))):
        for number, line in enumerate(_read_lines(trans), 1):
            if line.strip():
                utt_id, _, text = line.strip().partition(" ")
                transcripts[utt_id] = (text, f"{trans} line {number}")
    flacs = glob.glob(os.path.join(split_dir, "*", "*", "*.flac"))
    audio = {os.path.basename(p)[: -len(".flac")]: p for p in flacs}
    if not transcripts and not audio:
        raise FileNotFoundError(f"No *.trans.txt or *.flac found under {split_dir}/<speaker>/<chapter>/")
    candidates = []
    for utt_id in sorted(set(transcripts) | set(audio)):
        text, origin = transcripts.get(utt_id, (None, f"{audio.get(utt_id)}, no transcript line"))
        path = audio.get(utt_id) or _librispeech_flac(split_dir, utt_id)
        draw = pick_template(utt_id, templates, seed)
        record = _asr_candidate(utt_id, path, text, origin, data_folder, "librispeech", draw, text_case)
        candidates.append(record)
    return candidates


def _librispeech_flac(split_dir, utt_id):
    """Where LibriSpeech keeps an utterance's audio."""
    speaker, chapter = (utt_id.split("-") + ["", ""])[:2]
    return os.path.join(split_dir, speaker, chapter, utt_id + ".flac")


def _asr_candidate(utt_id, path, text, origin, data_root, dataset, instruction, text_case):
    """One ASR ``(record, origin, problems)``; no ``path`` / ``text`` leaves that field out."""
    record, problems = {"id": utt_id}, []
    if path is not None:
        record["audio_filepath"] = manifest_path(path, data_root)
        duration, problem = _duration_or_problem(path)
        if duration is None:
            problems.append(problem)  # no duration field: the audio problem says why
        else:
            record["duration"] = duration
    record.update(input=instruction, dataset=dataset)
    if text is not None:
        record["target"] = normalize_transcript(text, text_case)
    return record, origin, problems


def _read_lines(path):
    """Lines of a UTF-8 text file."""
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def read_kaldi_table(path):
    """``{key: (value, line number)}`` of a Kaldi text table (``key value`` lines).

    Arguments
    ---------
    path : str
        ``wav.scp``, ``text``...

    Example
    -------
    >>> path = getfixture("tmpdir") / "text"
    >>> _ = path.write_text("u1 HELLO THERE\\n\\nu2 BYE\\n", "utf-8")
    >>> read_kaldi_table(str(path))
    {'u1': ('HELLO THERE', 1), 'u2': ('BYE', 3)}
    """
    table = {}
    for number, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        if key in table:
            raise ManifestError(f"{path} line {number}: key {key!r} already given on line {table[key][1]}")
        table[key] = (value.strip(), number)
    return table


def prepare_kaldi(
    data_dir,
    save_path,
    data_root="",
    dataset="",
    templates=ASR_TEMPLATES,
    seed=0,
    text_case="sentence",
    skip_bad=False,
    overwrite=False,
    skip_prep=False,
):
    """Write a stage-1 manifest from a Kaldi data folder (``wav.scp`` + ``text``).

    ``wav.scp`` entries must be plain audio paths: piped commands (``sox ... |``) and archive
    offsets (``foo.ark:12``) are refused with the line named, since we do not run shell pipes.
    A ``segments`` file is refused too: our audio loader reads whole files, so cut the segments
    into files first (e.g. ``extract-segments`` or ``sox trim``). An utterance in one of
    ``wav.scp`` / ``text`` but not the other is a bad record.

    Arguments
    ---------
    data_dir : str
        Kaldi data folder.
    save_path : str
        Manifest to write.
    data_root : str
        Relative ``wav.scp`` paths are relative to this folder (else to the current one), and
        audio under it is written as ``{data_root}/...`` (training's ``data_folder``).
    dataset : str
        Value of each record's ``dataset`` field (default: the folder name).
    templates, seed, text_case, skip_bad, overwrite, skip_prep :
        As in :func:`prepare_librispeech`.

    Returns
    -------
    str
        ``save_path``.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(1600), 16000)
    >>> _ = (tmp / "wav.scp").write_text("a a.wav\\n", "utf-8")
    >>> _ = (tmp / "text").write_text("a HELLO\\n", "utf-8")
    >>> path = prepare_kaldi(str(tmp), str(tmp / "asr.jsonl"), data_root=str(tmp), dataset="demo")
    >>> {k: v for k, v in read_manifest(path)[0].items() if k != "input"}
    {'id': 'a', 'audio_filepath': '{data_root}/a.wav', 'duration': 0.1, 'dataset': 'demo', 'target': 'Hello'}
    """
    if skip_prep:
        return save_path
    options = dict(
        data_dir=os.path.abspath(data_dir),
        data_root=data_root,
        dataset=dataset,
        templates=list(templates),
        seed=seed,
        text_case=text_case,
        skip_bad=skip_bad,
    )
    if _should_skip(save_path, options, overwrite):
        return save_path
    segments = os.path.join(data_dir, "segments")
    if os.path.exists(segments):
        raise ManifestError(
            f"{segments}: Kaldi segments are not supported (the audio loader reads whole files); "
            "cut the segments into separate files and list those in wav.scp"
        )
    wavs = _kaldi_wavs(os.path.join(data_dir, "wav.scp"), data_root)
    text_path = os.path.join(data_dir, "text")
    texts = read_kaldi_table(text_path)
    dataset = dataset or os.path.basename(os.path.normpath(data_dir))
    candidates = []
    for utt_id in list(wavs) + [u for u in texts if u not in wavs]:
        if utt_id in wavs:
            path, origin = wavs[utt_id]
            origin += "" if utt_id in texts else ", not in text"
        else:
            path, origin = None, f"{text_path} line {texts[utt_id][1]}, not in wav.scp"
        text = texts[utt_id][0] if utt_id in texts else None
        draw = pick_template(utt_id, templates, seed)
        candidates.append(_asr_candidate(utt_id, path, text, origin, data_root, dataset, draw, text_case))
    write_validated(candidates, save_path, SFT_FIELDS, data_root, skip_bad)
    save_options(save_path, options)
    return save_path


def _kaldi_wavs(wav_scp, data_root):
    """``{utt: (absolute audio path, origin)}`` of a ``wav.scp`` with plain path entries."""
    table = read_kaldi_table(wav_scp)
    wavs = {}
    for utt_id, (entry, number) in table.items():
        where = f"{wav_scp} line {number}"
        if entry.endswith("|"):
            raise ManifestError(
                f"{where}: utterance {utt_id!r} is a piped command ({entry!r}); we do not run shell "
                "pipes, so convert the audio to files and list their paths"
            )
        if re.search(r"\.ark:\d+$", entry) or not entry:
            raise ManifestError(f"{where}: utterance {utt_id!r} must be a plain audio path, got {entry!r}")
        path = os.path.join(data_root, entry) if data_root else entry
        wavs[utt_id] = (os.path.abspath(path), where)
    return wavs


def merge_manifests(manifests, save_path, fields=SFT_FIELDS, data_root=None, skip_bad=False):
    """Concatenate manifests into one (e.g. LibriSpeech's three train splits into ``asr_train``).

    Records are checked again (an id in two inputs is a duplicate naming the second input).

    Arguments
    ---------
    manifests : list of str
        Input manifests.
    save_path : str
        Merged manifest.
    fields : sequence of str
        Required fields.
    data_root : str
        Replaces ``{data_root}`` for the checks (default: the folder of ``save_path``, where the
        stage YAMLs expect manifests and ``data_folder`` to coincide).
    skip_bad : bool
        See :func:`write_validated`.

    Returns
    -------
    str
        ``save_path``.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(1600), 16000)
    >>> rec = {"audio_filepath": "{data_root}/a.wav", "duration": 0.1, "input": "q", "target": "t"}
    >>> write_manifest([dict(rec, id="a")], str(tmp / "one.json"))
    >>> write_manifest([dict(rec, id="b")], str(tmp / "two.json"))
    >>> path = merge_manifests([str(tmp / "one.json"), str(tmp / "two.json")], str(tmp / "all.json"))
    >>> [r["id"] for r in read_manifest(path)]
    ['a', 'b']
    """
    data_root = os.path.dirname(os.path.abspath(save_path)) if data_root is None else data_root
    candidates = []
    for manifest in manifests:
        for index, record in enumerate(read_manifest(manifest)):
            candidates.append((record, f"{manifest} record #{index}", []))
    write_validated(candidates, save_path, fields, data_root, skip_bad)
    return save_path


# ----------------------------------------------------------------------------------------------
# Stages 2-3: audio question answering
# ----------------------------------------------------------------------------------------------


def read_source_rows(source):
    """``(row, origin)`` pairs of a JSON list / object keyed by id, JSON Lines, or CSV file.

    Example
    -------
    >>> path = getfixture("tmpdir") / "qa.csv"
    >>> _ = path.write_text("audio,question\\nx.wav,What?\\n", "utf-8")
    >>> read_source_rows(str(path))
    [({'audio': 'x.wav', 'question': 'What?'}, '.../qa.csv line 2')]
    """
    if not source.endswith(".csv"):
        return [(row, f"{source} record #{i}") for i, row in enumerate(read_manifest(source))]
    if not os.path.isfile(source):
        raise ManifestError(f"Source {source} does not exist")
    with open(source, encoding="utf-8-sig", newline="") as f:  # -sig: spreadsheets' BOM
        reader = csv.DictReader(f)
        return [(dict(row), f"{source} line {reader.line_num}") for row in reader]


def mcq_target(answer, choices, answer_format="text"):
    """The training target of a multiple-choice item: the option text or its letter.

    ``answer`` may be the option text or its letter (``"B"``, ``"(B)"``, ``"B."``).

    Arguments
    ---------
    answer : str
        The source's answer.
    choices : list of str
        The options, in prompt order.
    answer_format : str
        ``"text"`` (MMAU: the model must say the option) or ``"letter"`` (MMSU).

    Returns
    -------
    str

    Raises
    ------
    ValueError
        When ``answer`` is neither an option nor the letter of one.

    Example
    -------
    >>> mcq_target("B", ["rain", "wind"]), mcq_target("rain", ["rain", "wind"], "letter")
    ('wind', 'A')
    """
    if answer_format not in MCQ_ANSWERS:
        raise ValueError(f"answer_format must be one of {MCQ_ANSWERS}, got {answer_format!r}")
    texts = [str(c).strip() for c in choices]
    answer = str(answer).strip()
    letter = answer.strip("().").upper()
    if answer in texts:
        index = texts.index(answer)
    elif len(letter) == 1 and 0 <= ord(letter) - ord("A") < len(texts):
        index = ord(letter) - ord("A")
    else:
        raise ValueError(f"answer {answer!r} is not one of the {len(texts)} choices nor the letter of one")
    return texts[index] if answer_format == "text" else chr(ord("A") + index)


def _parse_choices(value):
    """A choices value as a list: a list, a JSON list string, or ``"a | b | c"``."""
    if isinstance(value, list):
        return value
    value = str(value).strip()
    if value.startswith("["):
        return json.loads(value)
    return [c.strip() for c in value.split("|")] if value else []


def _field_sources(field_map):
    """``{our field: [source fields]}``; our own field names map to themselves by default."""
    sources = {}
    for source, ours in (field_map or {}).items():
        if ours not in QA_FIELDS:
            raise ValueError(f"field_map[{source!r}] = {ours!r}: must be one of {QA_FIELDS}")
        sources.setdefault(ours, []).append(source)
    return {ours: sources.get(ours, [ours]) for ours in QA_FIELDS}


def import_audio_qa(
    source,
    save_path,
    audio_root="",
    field_map=None,
    mcq_template=MMAU_PROMPT,
    mcq_answer="text",
    dataset="",
    skip_bad=False,
    overwrite=False,
    skip_prep=False,
):
    """Write a stage-2/3 manifest from audio QA data in JSON, JSONL or CSV.

    Source fields are renamed with ``field_map`` (source name -> one of ``id``,
    ``audio_filepath``, ``input``, ``target``, ``duration``, ``choices``); fields already named
    so need no entry. Several source fields may map to ``choices`` (e.g. MMSU's
    ``choice_a..choice_d``), in the map's order; a single ``choices`` value may be a list, a
    JSON list string or ``"a | b | c"``. With choices, the instruction is
    ``mcq_template`` filled with the question and lettered options, as DIFFA-2 prompts MMAU
    (default) or MMSU (:data:`speechbrain_diffa.prompts.MMSU_PROMPT`), and the target
    is the option text or letter (``mcq_answer``). Missing ids become ``<source stem>-<row>``;
    missing durations are read from the audio headers.

    Arguments
    ---------
    source : str
        ``.json`` (list, or object keyed by id), ``.jsonl`` or ``.csv`` file.
    save_path : str
        Manifest to write.
    audio_root : str
        Relative audio paths are relative to this folder (else to the current one), and audio
        under it is written as ``{data_root}/...``.
    field_map : dict
        Source field -> manifest field, e.g. ``{"audio": "audio_filepath", "question": "input",
        "answer": "target"}``.
    mcq_template : str
        Template with ``{question}`` and ``{choices}`` for multiple-choice items.
    mcq_answer : str
        ``"text"`` (MMAU style) or ``"letter"`` (MMSU style) targets; see :func:`mcq_target`.
    dataset : str
        Value of each record's ``dataset`` field (default: the source's file stem).
    skip_bad, overwrite, skip_prep :
        As in :func:`prepare_librispeech`.

    Returns
    -------
    str
        ``save_path``.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "dog.wav"), numpy.zeros(3200), 16000)
    >>> _ = (tmp / "qa.csv").write_text("wav,q,options,a\\ndog.wav,What barks?,dog | cat,A\\n", "utf-8")
    >>> fields = {"wav": "audio_filepath", "q": "input", "options": "choices", "a": "target"}
    >>> path = import_audio_qa(str(tmp / "qa.csv"), str(tmp / "sft.json"), str(tmp), fields)
    >>> record = read_manifest(path)[0]
    >>> record["id"], record["duration"], record["target"], record["input"].splitlines()[-3:]
    ('qa-0', 0.2, 'dog', ['A. dog', 'B. cat', 'Answer:'])
    """
    if skip_prep:
        return save_path
    sources = _field_sources(field_map)
    options = dict(
        source=os.path.abspath(source),
        audio_root=audio_root,
        field_map=field_map,
        mcq_template=mcq_template,
        mcq_answer=mcq_answer,
        dataset=dataset,
        skip_bad=skip_bad,
    )
    if _should_skip(save_path, options, overwrite):
        return save_path
    stem = os.path.splitext(os.path.basename(source))[0]
    candidates = []
    for index, (row, origin) in enumerate(read_source_rows(source)):
        values = {ours: [row[s] for s in srcs if row.get(s) not in (None, "")] for ours, srcs in sources.items()}
        built = _qa_candidate(values, f"{stem}-{index}", origin, audio_root, mcq_template, mcq_answer)
        record, origin, problems = built
        record["dataset"] = dataset or stem
        candidates.append((record, origin, problems))
    write_validated(candidates, save_path, SFT_FIELDS, audio_root, skip_bad)
    save_options(save_path, options)
    return save_path


def _qa_candidate(values, default_id, origin, audio_root, mcq_template, mcq_answer):
    """One QA ``(record, origin, problems)`` from the renamed source values."""
    first = {ours: found[0] for ours, found in values.items() if found}
    record, problems = {"id": str(first.get("id", default_id))}, []
    if "audio_filepath" in first:
        record["audio_filepath"] = manifest_path(str(first["audio_filepath"]), audio_root)
    if "duration" in first:
        try:
            record["duration"] = float(first["duration"])
        except (TypeError, ValueError):
            problems.append(("duration", f"must be a number, got {first['duration']!r}"))
    elif "audio_filepath" in record:  # no duration given: read it from the header
        duration, problem = _duration_or_problem(resolve_path(record["audio_filepath"], audio_root))
        problems += [problem] if problem else []
        record.update({"duration": duration} if duration is not None else {})
    for field in ("input", "target"):
        if field in first:
            record[field] = str(first[field])
    choices = values["choices"] if len(values["choices"]) > 1 else _choices_or_problem(first, problems)
    if choices:
        record["choices"] = [str(c) for c in choices]
        question = record.get("input", "")
        record["input"] = mcq_template.format(question=question, choices=format_choices(choices))
        if "target" in record:
            try:
                record["target"] = mcq_target(record["target"], choices, mcq_answer)
            except ValueError as err:
                problems.append(("target", str(err)))
    return record, origin, problems


def _choices_or_problem(first, problems):
    """The single ``choices`` value as a list; an unreadable one is added to ``problems``."""
    if "choices" not in first:
        return []
    try:
        choices = _parse_choices(first["choices"])
    except json.JSONDecodeError as err:
        problems.append(("choices", f"is not a JSON list ({err.msg})"))
        return []
    if not isinstance(choices, list) or len(choices) < 2:
        problems.append(("choices", f"needs at least 2 options, got {first['choices']!r}"))
        return []
    return choices


# ----------------------------------------------------------------------------------------------
# Stage 4: preference pairs
# ----------------------------------------------------------------------------------------------


def read_rejected(path, field="rejected"):
    """``{id: (rejected text, origin)}`` from a JSON object ``{id: text}`` or records with ids.

    Accepted: ``{"id": "text"}``, ``{"id": {"rejected": "text"}}``, or a JSON list / JSON Lines
    of ``{"id": ..., "rejected": ...}``.

    Arguments
    ---------
    path : str
        The rejected answers (e.g. written by an LLM, as DIFFA-2 did with Qwen3-32B).
    field : str
        Name of the rejected text in record form.

    Example
    -------
    >>> path = getfixture("tmpdir") / "rej.json"
    >>> _ = path.write_text('{"u1": "a cat meows"}', "utf-8")
    >>> read_rejected(str(path))
    {'u1': ('a cat meows', '.../rej.json key u1')}
    """
    if path.endswith(".json") and os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as err:
                raise ManifestError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
            return {str(k): (v, f"{path} key {k}") for k, v in data.items()}
    rejected = {}
    for index, record in enumerate(read_manifest(path)):
        key, where = str(record.get("id")), f"{path} record #{index}"
        if key in rejected:
            raise ManifestError(f"{where}: id {key!r} already has a rejected answer ({rejected[key][1]})")
        rejected[key] = (record.get(field), where)
    return rejected


def make_preference_pairs(
    sft_manifest,
    rejected_source,
    save_path,
    data_root=None,
    rejected_field="rejected",
    partial=False,
    skip_bad=False,
    overwrite=False,
    skip_prep=False,
):
    """Write a stage-4 manifest: SFT records with ``chosen`` (their target) and ``rejected``.

    Every SFT record needs a rejected answer unless ``partial=True`` (the answers cover a sample,
    as DIFFA-2's ~3,000 pairs do); then records without one are left out and counted in the
    log. A rejected answer for an id not in the SFT manifest, or one equal to the chosen answer
    (ignoring case and spacing), is a bad record.

    Arguments
    ---------
    sft_manifest : str
        Stage-2/3 manifest.
    rejected_source : str
        Rejected answers by id (see :func:`read_rejected`).
    save_path : str
        Manifest to write.
    data_root : str
        Replaces ``{data_root}`` for the checks (default: the folder of ``sft_manifest``, where
        the stage YAMLs expect manifests and ``data_folder`` to coincide).
    rejected_field : str
        Field holding the rejected text in record-form sources.
    partial : bool
        Allow SFT records without a rejected answer.
    skip_bad, overwrite, skip_prep :
        As in :func:`prepare_librispeech`.

    Returns
    -------
    str
        ``save_path``.

    Example
    -------
    >>> import numpy, soundfile
    >>> tmp = getfixture("tmpdir")
    >>> soundfile.write(str(tmp / "a.wav"), numpy.zeros(1600), 16000)
    >>> write_manifest([{"id": "a", "audio_filepath": "{data_root}/a.wav", "duration": 0.1,
    ...                  "input": "Who speaks?", "target": "A man."}], str(tmp / "sft.json"))
    >>> _ = (tmp / "rej.json").write_text('{"a": "A woman."}', "utf-8")
    >>> path = make_preference_pairs(str(tmp / "sft.json"), str(tmp / "rej.json"), str(tmp / "pref.json"))
    >>> record = read_manifest(path)[0]
    >>> record["chosen"], record["rejected"]
    ('A man.', 'A woman.')
    """
    if skip_prep:
        return save_path
    data_root = os.path.dirname(os.path.abspath(sft_manifest)) if data_root is None else data_root
    options = dict(
        sft_manifest=os.path.abspath(sft_manifest),
        rejected=os.path.abspath(rejected_source),
        data_root=data_root,
        rejected_field=rejected_field,
        partial=partial,
        skip_bad=skip_bad,
    )
    if _should_skip(save_path, options, overwrite):
        return save_path
    rejected = read_rejected(rejected_source, rejected_field)
    candidates, used, left_out = [], set(), 0
    for index, record in enumerate(read_manifest(sft_manifest)):
        key = str(record.get("id"))
        if key not in rejected and partial:
            left_out += 1
            continue
        candidates.append(_pair_candidate(record, rejected.get(key), f"{sft_manifest} record #{index}"))
        used.add(key)
    for key, (text, where) in rejected.items():
        if key not in used:
            candidates.append(({"id": key, "rejected": text}, where, [("id", f"is not in {sft_manifest}")]))
    if left_out:
        logger.info(f"{sft_manifest}: {left_out} records have no rejected answer (partial=True); not paired")
    write_validated(candidates, save_path, PREFERENCE_FIELDS, data_root, skip_bad)
    save_options(save_path, options)
    return save_path


def _pair_candidate(record, rejected, origin):
    """One preference ``(record, origin, problems)``."""
    pair, problems = dict(record), []
    pair["chosen"] = record.get("chosen", record.get("target"))
    if rejected is None:
        problems.append(("rejected", "is missing (no rejected answer for this id)"))
    else:
        pair["rejected"], where = rejected
        origin += f" + {where}"
        texts = (pair["rejected"], pair["chosen"])
        if all(isinstance(t, str) for t in texts) and _same(*texts):
            problems.append(("rejected", "is the same as chosen"))
    return pair, origin, problems


def _same(a, b):
    """Equal ignoring case and spacing."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()
