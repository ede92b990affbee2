"""Readers of the local benchmark copies: every schema, problems named, incomplete sets refused."""

import json
import os

import pytest

from speechbrain_diffa.evaluation import fixtures
from speechbrain_diffa.evaluation.benchmarks import (
    IncompleteSetError,
    check_complete,
    prepare,
    read_librispeech,
    read_mmar,
    read_mmau,
    read_mmsu,
)


@pytest.mark.parametrize("version", ["2024", "v05.15.25"])
def test_mmau_test_mini_both_layouts(tmp_path, version):
    fixtures.write_mmau(str(tmp_path), n=10, version=version)
    data = read_mmau(str(tmp_path), version=version)
    assert not data.problems and len(data.items) == 10
    assert {len(i.choices) for i in data.items} == {2, 4, 5, 8}
    first = data.items[0]
    assert first.id == "mmau-0000-ü" and first.answer in first.choices
    assert set(first.groups) == {"task", "category", "sub-category", "difficulty"}
    assert data.items[3].groups["category"] == "Reasoning"  # stored as a list in the release
    assert data.version == version and data.split == "test-mini"


def test_mmau_test_split_has_no_answers(tmp_path):
    fixtures.write_mmau(str(tmp_path), n=4, split="test")
    data = read_mmau(str(tmp_path), split="test", version="v05.15.25")
    assert not data.problems and all(i.answer is None for i in data.items)


def test_mmau_test_split_withholds_answers_as_empty_strings(tmp_path):
    """The released test JSON has "answer": "" on all 1000 records; every one was refused as not an option."""
    path = fixtures.write_mmau(str(tmp_path), n=4, split="test")
    records = json.load(open(path, encoding="utf-8"))
    for record in records:
        record["answer"] = ""
    json.dump(records, open(path, "w", encoding="utf-8"))
    data = read_mmau(str(tmp_path), split="test", version="v05.15.25")
    assert not data.problems and len(data.items) == 4 and all(i.answer is None for i in data.items)


def test_answers_that_are_not_verbatim_options_are_scored_with_a_warning(tmp_path, caplog):
    """MMAR-meta.json (2025) has six such answers ('2040' for the option '2040 '); the official rule scores them."""
    import logging

    path = fixtures.write_mmar(str(tmp_path), n=3)
    lines = [json.loads(line) for line in open(path, encoding="utf-8")]
    lines[0]["answer"] = lines[0]["choices"][0].strip() + " "  # a trailing space the option does not have
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in lines)
    with caplog.at_level(logging.WARNING):
        data = read_mmar(str(tmp_path))
    assert not data.problems and len(data.items) == 3
    assert "is not verbatim one of the options" in caplog.text and lines[0]["id"] in caplog.text
    with pytest.raises(FileNotFoundError, match="mmau-test-mini.json"):
        read_mmau(str(tmp_path), split="test-mini", version="v05.15.25")


def test_mmau_bad_records_are_named(tmp_path):
    path = fixtures.write_mmau(str(tmp_path), n=5)
    records = json.load(open(path, encoding="utf-8"))
    records[0]["answer"] = ""
    records[1]["task"] = "noise"
    records[2]["choices"] = "Man"
    del records[3]["question"]
    records.append(dict(records[4]))  # duplicate id
    json.dump(records, open(path, "w", encoding="utf-8"))
    os.remove(os.path.join(str(tmp_path), records[4]["audio_id"]))
    data = read_mmau(str(tmp_path), version="v05.15.25")
    found = sorted((p.id, p.field) for p in data.problems)
    assert found == [
        ("mmau-0000-ü", "answer"),
        ("mmau-0001-ü", "task"),
        ("mmau-0002-ü", "choices"),
        ("mmau-0003-ü", "question"),
        ("mmau-0004-ü", "audio_id"),
        ("mmau-0004-ü", "audio_id"),
        ("mmau-0004-ü", "id"),
    ]
    assert "expected the text of one option" in str(data.problems[0]) and path in str(data.problems[0])
    assert [i.id for i in data.unusable_items] == ["mmau-0004-ü"]
    with pytest.raises(IncompleteSetError, match="5 of 6 records cannot be used"):
        check_complete(data)


def test_incomplete_set_refused_then_counted(tmp_path):
    fixtures.write_mmar(str(tmp_path), n=6)
    os.remove(os.path.join(str(tmp_path), "audio", os.listdir(os.path.join(str(tmp_path), "audio"))[0]))
    data = read_mmar(str(tmp_path))
    assert len(data.items) == 5 and len(data.problems) == 1 and data.problems[0].field == "audio_path"
    with pytest.raises(IncompleteSetError, match="audio file not found"):
        check_complete(data)
    assert check_complete(data, allow_incomplete=True) == 1


def test_mmar_schema(tmp_path):
    fixtures.write_mmar(str(tmp_path), n=10)
    data = prepare("mmar", str(tmp_path))
    assert not data.problems
    assert {len(i.choices) for i in data.items} == {2, 3, 4, 5, 6}
    assert data.items[0].groups == {"modality": "sound", "category": "Signal Layer", "sub-category": "Counting"}


def test_mmar_bad_json_line(tmp_path):
    path = fixtures.write_mmar(str(tmp_path), n=2)
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"id": "broken", \n')
    problems = read_mmar(str(tmp_path)).problems
    assert len(problems) == 1 and problems[0].id == "#3" and "line 3" in problems[0].message


def test_mmsu_schema(tmp_path):
    fixtures.write_mmsu(str(tmp_path), n=6)
    data = read_mmsu(str(tmp_path))
    assert not data.problems
    assert [len(i.choices) for i in data.items] == [4, 4, 4, 4, 4, 2]
    assert data.items[0].groups["task"] == "intonation_perception"
    assert data.items[0].groups["category"] == "Perception"


def test_mmsu_parquet_release_is_explained(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train-00000.parquet").write_bytes(b"PAR1")
    with pytest.raises(ValueError, match="parquet"):
        read_mmsu(str(tmp_path))


def test_librispeech(tmp_path):
    fixtures.write_librispeech(str(tmp_path), subset="test-other", n=3)
    data = read_librispeech(str(tmp_path), subset="test-other")
    assert [i.id for i in data.items] == ["1089-134686-0000", "1089-134686-0001", "1089-134686-0002"]
    assert data.items[1].answer == "IT'S TIME NUMBER ONE"
    with pytest.raises(FileNotFoundError, match="test-clean"):
        read_librispeech(str(tmp_path), subset="test-clean")


def _as_known(monkeypatch, path, release):
    """Register the file at ``path`` as ``release`` (the real table holds the organisers' files)."""
    from speechbrain_diffa.evaluation import releases

    blob = releases.git_blob_id(open(path, "rb").read())
    monkeypatch.setitem(releases.KNOWN_FILES, blob, release)


def test_a_known_release_names_its_version_and_a_contradicting_one_is_refused(tmp_path, monkeypatch):
    from speechbrain_diffa.evaluation.releases import Release

    path = fixtures.write_mmau(str(tmp_path), n=3)
    _as_known(monkeypatch, path, Release("mmau", "test-mini", "2024", "Sakshi113/MMAU", "mmau-test-mini.json",
                                         "1f675a9", "2025-03-25"))  # fmt: skip
    data = read_mmau(str(tmp_path))  # no version needed: the file says which release it is
    assert data.version == "2024" and "Sakshi113/MMAU mmau-test-mini.json @ 1f675a9" in data.release
    assert read_mmau(str(tmp_path), version="2024").version == "2024"
    with pytest.raises(ValueError, match="release 2024; the version given, 'v05.15.25', contradicts it"):
        read_mmau(str(tmp_path), version="v05.15.25")


def test_an_unknown_file_is_scored_with_a_warning_under_the_release_named(tmp_path, caplog):
    fixtures.write_mmau(str(tmp_path), n=3)
    with pytest.raises(ValueError, match="not a known official MMAU file"):
        read_mmau(str(tmp_path))
    with caplog.at_level("WARNING"):
        data = read_mmau(str(tmp_path), version="v05.15.25")
    assert data.version == "v05.15.25" and "not a known official file" in data.release
    assert "not a known official mmau release file" in caplog.text
    fixtures.write_mmar(str(tmp_path / "mmar"), n=2)
    with caplog.at_level("WARNING"):
        assert "not a known official file" in read_mmar(str(tmp_path / "mmar")).release


def test_the_release_table_holds_git_blob_ids():
    """Every entry is a 40-hex blob id of an MMAU or MMAR file; the id is git's (``git hash-object``)."""
    import re
    import subprocess

    from speechbrain_diffa.evaluation.releases import KNOWN_FILES, git_blob_id

    assert all(re.fullmatch(r"[0-9a-f]{40}", blob) for blob in KNOWN_FILES)
    assert {(r.benchmark, r.split, r.version) for r in KNOWN_FILES.values()} == {
        ("mmau", "test-mini", "2024"), ("mmau", "test-mini", "v05.15.25"), ("mmau", "test", "2024"),
        ("mmau", "test", "v05.15.25"), ("mmar", "test", "2025"), ("mmar", "test", "2026")}  # fmt: skip
    data = b'[{"id": "x"}]\n'
    git = subprocess.run(["git", "hash-object", "--stdin"], input=data, capture_output=True)
    if git.returncode == 0:
        assert git_blob_id(data) == git.stdout.decode().strip()


def test_mmsu_parquet_release_reads_like_the_jsonl_copy(tmp_path):
    """The HF parquet layout (embedded audio, null choices, several files) gives the JSONL copy's items."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fixtures.write_mmsu(str(tmp_path / "jsonl"), n=12)
    fixtures.write_mmsu_parquet(str(tmp_path / "hub"), n=12, files=3)
    from_jsonl = {i.id: i for i in read_mmsu(str(tmp_path / "jsonl")).items}
    data = read_mmsu(str(tmp_path / "hub"))
    assert len(data.items) == 12 and not data.problems and "parquet" in data.release
    for item in data.items:
        twin = from_jsonl[item.id]
        assert (item.choices, item.answer, item.groups, item.question) == (
            twin.choices, twin.answer, twin.groups, twin.question)  # fmt: skip
        assert open(item.audio, "rb").read() == open(twin.audio, "rb").read()
        assert os.path.dirname(item.audio) == str(tmp_path / "hub" / "mmsu_parquet_audio")
    # an id that is not a plain file name is reported, and its audio is not written anywhere
    hostile = {"id": "../../escape", "audio": {"bytes": b"RIFF", "path": "x.wav"}, "question": "?"}
    pq.write_table(pa.Table.from_pylist([hostile]), str(tmp_path / "hub" / "data" / "zz.parquet"))
    again = read_mmsu(str(tmp_path / "hub"))
    assert len(again.items) == 12 and "is not a plain file name" in str(again.problems[0])
    assert not (tmp_path / "escape.wav").exists()
    (tmp_path / "hub" / "data" / "zz.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="zz.parquet: not a readable parquet file"):
        read_mmsu(str(tmp_path / "hub"))
