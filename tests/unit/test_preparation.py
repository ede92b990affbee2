"""Data preparation: tiny fake corpora in, validated manifests (or precise refusals) out."""

import importlib.util
import json
import os

import numpy
import pytest
import soundfile

from speechbrain_diffa.data.manifests import PREFERENCE_FIELDS, ManifestError, read_manifest, validated_records
from speechbrain_diffa.data.preparation import (
    ASR_TEMPLATES,
    import_audio_qa,
    make_preference_pairs,
    merge_manifests,
    pick_template,
    prepare_kaldi,
    prepare_librispeech,
    side_file,
)
from speechbrain_diffa.prompts import MMSU_PROMPT

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "DIFFA2")


def write_audio(path, seconds=0.1, rate=16000):
    """A short tone (wav or flac, by extension)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, 0.1 * numpy.sin(numpy.arange(int(seconds * rate)) / 5.0), rate)
    return path


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def make_librispeech(root, split="dev-clean", chapters=None):
    """LibriSpeech layout: <split>/<spk>/<chapter>/<spk>-<chapter>.trans.txt + .flac files."""
    chapters = chapters or {("84", "121123"): ["GO I SAY", "I'LL COME BACK"], ("1272", "128104"): ["HELLO"]}
    for (speaker, chapter), texts in chapters.items():
        folder = os.path.join(root, split, speaker, chapter)
        lines = []
        for n, text in enumerate(texts):
            utt = f"{speaker}-{chapter}-{n:04d}"
            write_audio(os.path.join(folder, utt + ".flac"), 0.05 * (n + 1))
            lines.append(f"{utt} {text}")
        write_text(os.path.join(folder, f"{speaker}-{chapter}.trans.txt"), "\n".join(lines) + "\n")
    return str(root)


def load_cli(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(RECIPE, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------------------------
# LibriSpeech
# ----------------------------------------------------------------------------------------------


def test_librispeech_manifest_loads_for_training(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    path = prepare_librispeech(root, ["dev-clean"], str(tmp_path / "out"))["dev-clean"]
    assert path.endswith("asr_dev-clean.json")
    records = {r["id"]: r for r in read_manifest(path)}
    assert sorted(records) == ["1272-128104-0000", "84-121123-0000", "84-121123-0001"]
    record = records["84-121123-0001"]
    assert record["audio_filepath"] == "{data_root}/dev-clean/84/121123/84-121123-0001.flac"
    assert record["duration"] == 0.1 and record["target"] == "I'll come back"
    assert record["input"] in ASR_TEMPLATES and record["dataset"] == "librispeech"
    data = validated_records(path, data_root=root)  # what training will do
    assert os.path.isfile(data["84-121123-0000"]["audio_filepath"])


def test_template_draw_is_deterministic_and_seeded(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    first = read_manifest(prepare_librispeech(root, ["dev-clean"], str(tmp_path / "a"))["dev-clean"])
    again = read_manifest(prepare_librispeech(root, ["dev-clean"], str(tmp_path / "b"))["dev-clean"])
    assert [r["input"] for r in first] == [r["input"] for r in again]
    assert all(r["input"] == pick_template(r["id"]) for r in first)  # by id, not by position
    ids = [f"spk-ch-{i:04d}" for i in range(50)]
    assert [pick_template(i, seed=0) for i in ids] != [pick_template(i, seed=1) for i in ids]
    assert len(set(ASR_TEMPLATES)) == 25


def test_text_case_option(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    raw = prepare_librispeech(root, ["dev-clean"], str(tmp_path / "raw"), text_case="raw")["dev-clean"]
    assert read_manifest(raw)[1]["target"] == "GO I SAY"


def test_existing_outputs_are_skipped_unless_options_change(tmp_path):
    root, out = make_librispeech(tmp_path / "LibriSpeech"), str(tmp_path / "out")
    path = prepare_librispeech(root, ["dev-clean"], out)["dev-clean"]
    write_text(path, "[]")  # a marker: skipping must leave it alone
    prepare_librispeech(root, ["dev-clean"], out)
    assert read_manifest(path) == []
    assert prepare_librispeech(root, ["dev-clean"], out, skip_prep=True) == {}
    prepare_librispeech(root, ["dev-clean"], out, seed=3)  # other options: prepared again
    assert len(read_manifest(path)) == 3
    write_text(path, "[]")
    prepare_librispeech(root, ["dev-clean"], out, seed=3, overwrite=True)
    assert len(read_manifest(path)) == 3


def test_librispeech_problems_name_file_record_and_field(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    chapter = os.path.join(root, "dev-clean", "84", "121123")
    os.remove(os.path.join(chapter, "84-121123-0000.flac"))  # transcript line, no audio
    write_audio(os.path.join(chapter, "84-121123-0007.flac"))  # audio, no transcript line
    with open(os.path.join(chapter, "84-121123.trans.txt"), "a", encoding="utf-8") as f:
        f.write("84-121123-0008\n")  # empty transcript
    write_audio(os.path.join(chapter, "84-121123-0008.flac"))
    out = str(tmp_path / "out")
    with pytest.raises(ManifestError) as err:
        prepare_librispeech(root, ["dev-clean"], out)
    message = str(err.value)
    assert "asr_dev-clean.json: 3 of 5 records are unusable, nothing written" in message
    assert "record '84-121123-0000' (#1, " in message and "84-121123.trans.txt line 1" in message
    assert "audio_filepath file " in message and "84-121123-0000.flac does not exist" in message
    assert "record '84-121123-0007'" in message and ", no transcript line): target is missing" in message
    assert "record '84-121123-0008'" in message and "line 3): target is empty" in message
    assert not os.path.exists(os.path.join(out, "asr_dev-clean.json"))

    path = prepare_librispeech(root, ["dev-clean"], out, skip_bad=True)["dev-clean"]
    assert [r["id"] for r in read_manifest(path)] == ["1272-128104-0000", "84-121123-0001"]
    with open(side_file(path, ".skipped.json"), encoding="utf-8") as f:
        skipped = json.load(f)["skipped"]
    assert [s["id"] for s in skipped] == ["84-121123-0000", "84-121123-0007", "84-121123-0008"]
    assert skipped[2]["problems"] == ["target is empty"]


def test_missing_split_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-other-500"):
        prepare_librispeech(str(tmp_path), ["train-other-500"], str(tmp_path))


# ----------------------------------------------------------------------------------------------
# Kaldi
# ----------------------------------------------------------------------------------------------


def make_kaldi(tmp_path, wav_scp="a a.wav\nb sub/b.wav\n", text="a HELLO THERE\nb I AM HERE\n"):
    corpus = tmp_path / "corpus"
    write_audio(str(corpus / "a.wav"), 0.1)
    write_audio(str(corpus / "sub" / "b.wav"), 0.2)
    data = tmp_path / "data"
    write_text(str(data / "wav.scp"), wav_scp)
    write_text(str(data / "text"), text)
    return str(data), str(corpus)


def test_kaldi_manifest(tmp_path):
    data, corpus = make_kaldi(tmp_path)
    path = prepare_kaldi(data, str(tmp_path / "asr.jsonl"), data_root=corpus)
    records = read_manifest(path)
    assert [(r["id"], r["audio_filepath"], r["duration"], r["target"]) for r in records] == [
        ("a", "{data_root}/a.wav", 0.1, "Hello there"),
        ("b", "{data_root}/sub/b.wav", 0.2, "I am here"),
    ]
    assert records[0]["dataset"] == "data" and records[0]["input"] == pick_template("a")
    assert len(validated_records(path, data_root=corpus)) == 2


def test_kaldi_absolute_paths_without_data_root(tmp_path):
    audio = write_audio(str(tmp_path / "x.wav"))
    data, _ = make_kaldi(tmp_path, wav_scp=f"x {audio}\n", text="x OK\n")
    record = read_manifest(prepare_kaldi(data, str(tmp_path / "asr.json")))[0]
    assert record["audio_filepath"] == audio


def test_kaldi_pipes_and_segments_are_refused_with_the_line(tmp_path):
    data, corpus = make_kaldi(tmp_path, wav_scp="a a.wav\nb sox b.sph -t wav - |\n")
    with pytest.raises(ManifestError, match=r"wav.scp line 2: utterance 'b' is a piped command"):
        prepare_kaldi(data, str(tmp_path / "asr.json"), data_root=corpus)
    data, corpus = make_kaldi(tmp_path)
    write_text(os.path.join(data, "segments"), "a-1 a 0.0 0.05\n")
    with pytest.raises(ManifestError, match="segments are not supported"):
        prepare_kaldi(data, str(tmp_path / "asr.json"), data_root=corpus)


def test_kaldi_mismatched_and_unreadable_entries(tmp_path):
    data, corpus = make_kaldi(tmp_path, wav_scp="a a.wav\nb sub/b.wav\nc c.wav\n", text="a HI\nd LOST\n")
    write_text(os.path.join(corpus, "c.wav"), "not audio")
    with pytest.raises(ManifestError) as err:
        prepare_kaldi(data, str(tmp_path / "asr.json"), data_root=corpus)
    message = str(err.value)
    assert "record 'b' (#1, " in message and "wav.scp line 2, not in text): target is missing" in message
    assert "record 'c'" in message and "c.wav cannot be read" in message
    assert "record 'd' (#3, " in message
    assert "text line 2, not in wav.scp): audio_filepath is missing" in message
    path = prepare_kaldi(data, str(tmp_path / "asr.json"), data_root=corpus, skip_bad=True)
    assert [r["id"] for r in read_manifest(path)] == ["a"]
    assert os.path.isfile(str(tmp_path / "asr.skipped.json"))


# ----------------------------------------------------------------------------------------------
# Audio QA
# ----------------------------------------------------------------------------------------------


def test_qa_csv_open_and_multiple_choice(tmp_path):
    write_audio(str(tmp_path / "audio" / "dog.wav"), 0.2)
    write_audio(str(tmp_path / "audio" / "rain.wav"), 0.1)
    source = write_text(
        str(tmp_path / "qa.csv"),
        "clip,question,answer,options,secs\n"
        "dog.wav,What animal is heard?,A dog barking.,,\n"
        'rain.wav,What is heard?,B,"[""wind"", ""rain""]",0.5\n',
    )
    fields = {
        "clip": "audio_filepath",
        "question": "input",
        "answer": "target",
        "options": "choices",
        "secs": "duration",
    }
    path = import_audio_qa(source, str(tmp_path / "sft.json"), str(tmp_path / "audio"), fields)
    open_item, mcq = read_manifest(path)
    assert open_item == {
        "id": "qa-0",
        "audio_filepath": "{data_root}/dog.wav",
        "duration": 0.2,
        "input": "What animal is heard?",
        "target": "A dog barking.",
        "dataset": "qa",
    }
    assert mcq["duration"] == 0.5 and mcq["target"] == "rain" and mcq["choices"] == ["wind", "rain"]
    assert mcq["input"].startswith("You are given the audio and a multiple-choice question.")
    assert mcq["input"].endswith("Question: What is heard?\n\nChoices:\nA. wind\nB. rain\nAnswer:")
    assert len(validated_records(path, data_root=str(tmp_path / "audio"))) == 2


def test_qa_jsonl_mmsu_style_from_choice_columns(tmp_path):
    write_audio(str(tmp_path / "s.wav"))
    item = {"id": "m1", "audio": "s.wav", "question": "Who speaks?", "answer_gt": "a woman"}
    item.update(choice_a="a child", choice_b="a man", choice_c="a woman", choice_d="nobody")
    source = write_text(str(tmp_path / "mmsu.jsonl"), json.dumps(item) + "\n")
    fields = {"audio": "audio_filepath", "question": "input", "answer_gt": "target"}
    fields.update({f"choice_{c}": "choices" for c in "abcd"})
    path = import_audio_qa(source, str(tmp_path / "sft.json"), str(tmp_path), fields, MMSU_PROMPT, "letter")
    record = read_manifest(path)[0]
    assert record["id"] == "m1" and record["target"] == "C"
    assert record["input"].endswith("Question: Who speaks?\n\nA. a child\nB. a man\nC. a woman\nD. nobody")


def test_qa_problems_name_line_and_field(tmp_path):
    write_audio(str(tmp_path / "a.wav"))
    source = write_text(
        str(tmp_path / "qa.csv"),
        "audio_filepath,input,target,choices,duration\n"
        "a.wav,Which?,E,x | y,\n"
        "missing.wav,What?,Something.,,\n"
        "a.wav,,An answer.,,\n"
        "a.wav,What?,Fine.,,soon\n"
        "a.wav,Fine?,Yes.,,\n",
    )
    save = str(tmp_path / "sft.json")
    with pytest.raises(ManifestError) as err:
        import_audio_qa(source, save, str(tmp_path))
    message = str(err.value)
    assert "4 of 5 records are unusable" in message
    assert "record 'qa-0' (#0, " in message
    assert "qa.csv line 2): target answer 'E' is not one of the 2 choices" in message
    assert "qa.csv line 3): audio_filepath file " in message and "missing.wav does not exist" in message
    assert "qa.csv line 4): input is missing" in message
    assert "qa.csv line 5): duration must be a number, got 'soon'" in message
    import_audio_qa(source, save, str(tmp_path), skip_bad=True)
    assert [r["id"] for r in read_manifest(save)] == ["qa-4"]


def test_qa_field_map_is_checked():
    with pytest.raises(ValueError, match=r"field_map\['q'\] = 'question'"):
        import_audio_qa("unused.csv", "unused.json", field_map={"q": "question"})


# ----------------------------------------------------------------------------------------------
# Preference pairs
# ----------------------------------------------------------------------------------------------


def make_sft(tmp_path, ids=("a", "b", "c")):
    write_audio(str(tmp_path / "a.wav"))
    records = [
        {
            "id": i,
            "audio_filepath": "{data_root}/a.wav",
            "duration": 0.1,
            "input": "Who speaks?",
            "target": f"A man ({i}).",
        }
        for i in ids
    ]
    path = str(tmp_path / "sft.json")
    write_text(path, json.dumps(records))
    return path


def test_preference_pairs(tmp_path):
    sft = make_sft(tmp_path)
    answers = {"a": "A woman.", "b": "A child.", "c": "Two men."}
    rejected = write_text(str(tmp_path / "rej.json"), json.dumps(answers))
    path = make_preference_pairs(sft, rejected, str(tmp_path / "pref.json"))
    records = read_manifest(path)
    assert [(r["id"], r["chosen"], r["rejected"]) for r in records][0] == ("a", "A man (a).", "A woman.")
    assert len(validated_records(path, PREFERENCE_FIELDS, data_root=str(tmp_path))) == 3


def test_preference_records_form_and_partial(tmp_path):
    sft = make_sft(tmp_path)
    rejected = write_text(str(tmp_path / "rej.jsonl"), '{"id": "b", "bad": "A child."}\n')
    with pytest.raises(ManifestError, match=r"record 'a' \(#0, .*sft.json record #0\): rejected is missing"):
        make_preference_pairs(sft, rejected, str(tmp_path / "pref.json"), rejected_field="bad")
    path = make_preference_pairs(sft, rejected, str(tmp_path / "pref.json"), None, "bad", partial=True)
    assert [(r["id"], r["rejected"]) for r in read_manifest(path)] == [("b", "A child.")]


def test_preference_problems_and_skip_report(tmp_path):
    sft = make_sft(tmp_path, ids=("a", "b"))
    rejected = write_text(
        str(tmp_path / "rej.json"), json.dumps({"a": "a  MAN (a).", "b": "A child.", "zz": "Nobody."})
    )
    save = str(tmp_path / "pref.json")
    with pytest.raises(ManifestError) as err:
        make_preference_pairs(sft, rejected, save)
    message = str(err.value)
    assert "record 'a'" in message and "rej.json key a): rejected is the same as chosen" in message
    assert "record 'zz'" in message and "rej.json key zz): id is not in " in message
    make_preference_pairs(sft, rejected, save, skip_bad=True)
    assert [r["id"] for r in read_manifest(save)] == ["b"]
    with open(side_file(save, ".skipped.json"), encoding="utf-8") as f:
        assert [s["id"] for s in json.load(f)["skipped"]] == ["a", "zz"]


# ----------------------------------------------------------------------------------------------
# Merging and the command lines
# ----------------------------------------------------------------------------------------------


def test_merge_refuses_an_id_in_two_manifests(tmp_path):
    root = make_librispeech(tmp_path / "LibriSpeech")
    path = prepare_librispeech(root, ["dev-clean"], root)["dev-clean"]
    merged = merge_manifests([path], os.path.join(root, "asr_valid.json"))
    assert len(read_manifest(merged)) == 3
    duplicate = r"record '1272-128104-0000' \(#3, .*record #0\): id is a duplicate of record #0 \(.*json"
    with pytest.raises(ManifestError, match=duplicate):
        merge_manifests([path, path], os.path.join(root, "asr_train.json"))
    nameless = os.path.join(root, "nameless.json")
    write_text(nameless, json.dumps([{k: v for k, v in read_manifest(path)[0].items() if k != "id"}]))
    with pytest.raises(ManifestError, match=r"record None \(#0, .*nameless.json record #0\): id is missing"):
        merge_manifests([nameless], os.path.join(root, "asr_x.json"))


def test_command_lines(tmp_path, capsys):
    asr, qa, pref = load_cli("prepare_asr"), load_cli("prepare_audio_qa"), load_cli("prepare_preferences")
    root = make_librispeech(tmp_path / "LibriSpeech")
    args = ["librispeech", "--data_folder", root, "--splits", "dev-clean", "--save_folder", root]
    assert asr.main(args) == 0
    assert len(read_manifest(os.path.join(root, "asr_dev-clean.json"))) == 3
    data, corpus = make_kaldi(tmp_path, wav_scp="a a.wav\nb b.wav |\n")
    args = ["kaldi", "--data_dir", data, "--save_path", str(tmp_path / "k.json"), "--data_root", corpus]
    assert asr.main(args) == 1
    assert "wav.scp line 2" in capsys.readouterr().err

    write_audio(str(tmp_path / "a.wav"))
    items = [{"wav": "a.wav", "q": "What?", "a": "A tone."}]
    source = write_text(str(tmp_path / "qa.json"), json.dumps(items))
    fields = json.dumps({"wav": "audio_filepath", "q": "input", "a": "target"})
    args = ["--source", source, "--save_path", str(tmp_path / "sft.json"), "--audio_root", str(tmp_path)]
    assert qa.main(args + ["--field_map", fields]) == 0
    rejected = write_text(str(tmp_path / "rej.json"), json.dumps({"qa-0": "A tone."}))
    args = ["--sft_manifest", str(tmp_path / "sft.json"), "--rejected", rejected]
    args += ["--save_path", str(tmp_path / "p.json")]
    assert pref.main(args) == 1 and "rejected is the same as chosen" in capsys.readouterr().err
    with pytest.raises(SystemExit) as done:
        asr.main(["librispeech", "--help"])
    assert done.value.code == 0 and "--text_case" in capsys.readouterr().out
