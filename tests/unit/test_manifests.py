"""Training manifests: every problem named by file, record and field; nothing dropped silently."""

import json

import pytest
import soundfile
import torch

from speechbrain_diffa.chat import ChatLayout
from speechbrain_diffa.data.datasets import collate_fn, training_dataset
from speechbrain_diffa.data.manifests import PREFERENCE_FIELDS, ManifestError, read_manifest, validated_records
from speechbrain_diffa.demo.tiny_models import make_tiny_tokenizer


@pytest.fixture
def folder(tmp_path):
    for name in ("a", "b", "c"):
        soundfile.write(str(tmp_path / f"{name}.wav"), (torch.ones(800) * 0.1).numpy(), 16000)
    return tmp_path


def record(name, **fields):
    base = {
        "id": name,
        "audio_filepath": "{data_root}/" + name + ".wav",
        "duration": 0.05,
        "input": "What is it?",
        "target": "a tone",
    }
    return {**base, **fields}


def write(path, records):
    path.write_text(json.dumps(records), encoding="utf-8")
    return str(path)


def test_every_problem_is_reported_with_record_and_field(folder):
    path = write(
        folder / "m.json",
        [
            record("a"),
            record("b", target="  "),
            record("c", duration="long"),
            record("gone"),
            record("a"),
        ],
    )
    with pytest.raises(ManifestError) as err:
        validated_records(path, data_root=str(folder))
    message = str(err.value)
    assert path in message and "4 of 5 records" in message
    assert "record 'b' (#1): target is empty" in message
    assert "record 'c' (#2): duration must be a positive number, got 'long'" in message
    assert "record 'gone' (#3): audio_filepath file" in message and "gone.wav does not exist" in message
    assert "record 'a' (#4): id is a duplicate" in message


def test_skip_bad_trains_on_the_rest_and_lists_what_it_skipped(folder, caplog):
    path = write(folder / "m.json", [record("a"), record("b", input=None), record("c")])
    report = folder / "skipped.json"
    data = validated_records(path, data_root=str(folder), skip_bad=True, report_path=str(report))
    assert sorted(data) == ["a", "c"]
    skipped = json.loads(report.read_text(encoding="utf-8"))["skipped"]
    assert skipped == [{"id": "b", "index": 1, "problems": ["input is missing"]}]
    assert "skipping record 'b'" in caplog.text


def test_jsonl_errors_name_the_line(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"id": "a"}\n{"id": \n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m.jsonl, line 2: not valid JSON"):
        read_manifest(str(path))


def test_missing_and_empty_manifests(tmp_path):
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(str(tmp_path / "none.json"))
    with pytest.raises(ManifestError, match="no records"):
        validated_records(write(tmp_path / "e.json", []))


def test_preference_chosen_defaults_to_target(folder):
    path = write(folder / "p.json", [record("a", rejected="a noise"), record("b", target=None, rejected="x")])
    with pytest.raises(ManifestError, match="record 'b'.*chosen is missing"):
        validated_records(path, PREFERENCE_FIELDS, data_root=str(folder))
    data = validated_records(path, PREFERENCE_FIELDS, data_root=str(folder), skip_bad=True)
    assert data["a"]["chosen"] == "a tone"


def test_preference_dataset_pads_both_answers_with_eos(folder):
    chat = ChatLayout(make_tiny_tokenizer())
    path = write(
        folder / "p.json",
        [record("a", chosen="two", rejected="three beeps"), record("b", chosen="one long answer here", rejected="x")],
    )
    data = training_dataset(path, chat, str(folder), preference=True)
    batch = collate_fn(chat.eos_id)([data[0], data[1]])
    chosen, rejected = batch.chosen_ids.data, batch.rejected_ids.data
    assert int(chosen[0, -1]) == chat.eos_id and int(rejected[1, -1]) == chat.eos_id
    assert batch.prompt_length.tolist() == [data[0]["prompt_length"]] * 2


def test_replay_mixes_a_fixed_share_of_another_manifest(folder):
    chat = ChatLayout(make_tiny_tokenizer())
    main = write(folder / "qa.json", [record("a"), record("b")])
    asr = write(folder / "asr.json", [record(n, input="Transcribe.", target="words") for n in "abc"])
    data = training_dataset(main, chat, str(folder), replay_manifest=asr, replay_fraction=0.5, seed=1)
    ids = [data[i]["id"] for i in range(len(data))]
    assert ids[:2] == ["a", "b"] and len(ids) == 3 and ids[2].startswith("replay/")
    again = training_dataset(main, chat, str(folder), replay_manifest=asr, replay_fraction=0.5, seed=1)
    assert again[2]["id"] == ids[2]


def write_json(path, records):
    path.write_text(json.dumps(records), "utf-8")
    return str(path)


def test_a_non_audio_file_is_refused_before_training_and_skip_bad_drops_it(folder):
    """A text file passed the existence check, trained a step, then crashed with a 91-line traceback."""
    (folder / "notes.wav").write_text("not audio")
    path = write_json(folder / "m.json", [record("a"), record("notes")])
    with pytest.raises(ManifestError, match=r"record 'notes'.*audio_filepath file .*notes.wav is not readable audio"):
        validated_records(path, data_root=str(folder))
    assert list(validated_records(path, data_root=str(folder), skip_bad=True)) == ["a"]


@pytest.mark.parametrize(
    "records, match",
    [
        ({"a": "b"}, "the value of key 'a' is not a record"),
        ([record("a"), "b"], r"record #1 is not a JSON object"),
        ([record("a", audio_filepath=3)], "audio_filepath must be a file path, got 3"),
        ([record("a", prompt_length=1)], "prompt_length is computed by the dataset"),
        ([record("a", sig=[0.1])], "sig is computed by the dataset"),
        (7, "expected a list of records"),
        ([record("a", audio_filepath="{data_root}/../a.wav")], "leads out of the data folder"),
    ],
)
def test_malformed_records_are_named(folder, records, match):
    """Records named {"a": "b"} or audio_filepath: 3 gave AttributeErrors; reserved names overrode computed ones."""
    with pytest.raises(ManifestError, match=match):
        validated_records(write_json(folder / "m.json", records), data_root=str(folder))


def test_a_manifest_that_is_not_utf8_is_named(folder):
    path = folder / "latin1.json"
    path.write_bytes(json.dumps([record("a", input="Qu'entends-tu ? é")], ensure_ascii=False).encode("latin-1"))
    with pytest.raises(ManifestError, match="latin1.json is not UTF-8 text"):
        validated_records(str(path), data_root=str(folder))


def test_audio_outside_the_data_folder_is_refused_unless_allowed(folder, tmp_path_factory):
    """Absolute paths elsewhere, relative ``..`` and links out of the folder; the recipe flag lets them in."""
    import os

    elsewhere = tmp_path_factory.mktemp("elsewhere")
    soundfile.write(str(elsewhere / "x.wav"), (torch.ones(800) * 0.1).numpy(), 16000)
    os.symlink(elsewhere / "x.wav", folder / "link.wav")
    records = [
        record("abs", audio_filepath=str(elsewhere / "x.wav")),
        record("passwd", audio_filepath="/etc/passwd"),
        record("link"),  # {data_root}/link.wav, a link that leads out
        record("a"),
    ]
    path = write(folder / "out.json", records)
    with pytest.raises(ManifestError, match="3 of 4 records") as refused:
        validated_records(path, data_root=str(folder))
    message = str(refused.value)
    assert f"'{elsewhere / 'x.wav'}' is outside the data folder" in message and "audio_outside_data_folder" in message
    assert "'/etc/passwd' is outside" in message and "'{data_root}/link.wav' leads out of the data folder" in message
    allowed = validated_records(path, data_root=str(folder), allow_outside=True, skip_bad=True)
    assert sorted(allowed) == ["a", "abs"]  # /etc/passwd is still not audio; the {data_root} link still leads out
    chat = ChatLayout(make_tiny_tokenizer(str(tmp_path_factory.mktemp("tok"))))
    with pytest.raises(ManifestError, match="is outside the data folder"):
        training_dataset(path, chat, data_root=str(folder))


def test_a_clip_failing_only_when_read_names_its_record_or_is_left_out_with_skip_bad(folder):
    """A 1e30 float WAV has a valid header; the fault shows only when its samples are read, mid-epoch."""
    from speechbrain_diffa.data.audio import AudioError
    from speechbrain_diffa.data.datasets import unreadable_report

    soundfile.write(str(folder / "loud.wav"), (torch.ones(800) * 1e30).numpy(), 16000, subtype="FLOAT")
    chat = ChatLayout(make_tiny_tokenizer())
    path = write(folder / "m.json", [record("a"), record("loud"), record("b")])
    strict = training_dataset(path, chat, str(folder))
    with pytest.raises(AudioError, match=r"m.json: record 'loud': .*loud.wav"):
        strict[1]
    report = str(folder / "skipped_train.json")
    lenient = training_dataset(path, chat, str(folder), skip_bad=True, report_path=report)
    batch = collate_fn(chat.eos_id)([lenient[i] for i in range(3)])
    assert batch.id == ["a", "b"] and batch.sig.data.shape[0] == 2
    assert collate_fn(chat.eos_id)([lenient[1]]) is None  # a batch with nothing readable left: the Brains skip it
    with open(unreadable_report(report), encoding="utf-8") as f:
        skipped = [json.loads(line) for line in f]
    assert [s["id"] for s in skipped] == ["loud", "loud"] and "loud.wav" in skipped[0]["problem"]
