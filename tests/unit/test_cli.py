"""The diffa2 command line: help, answers, one-line errors, eval delegation (run in-process)."""

import json
import os

import pytest
import torch

from speechbrain_diffa import cli
from speechbrain_diffa.hub.export import write_tiny_model_folder
from speechbrain_diffa.inference import DIFFA2

FAST = ["--steps", "4", "--gen_length", "4", "--block_length", "4"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_root):
    """A stage-2 tiny model folder."""
    return write_tiny_model_folder(str(tmp_path_factory.mktemp("cli")), stage=2, tiny_root=tiny_root)


def run(argv, capsys):
    """(exit status, stdout, stderr) of ``diffa2 argv``."""
    status = cli.main(argv)
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("command", ["answer", "transcribe", "export", "convert-release", "serve"])
def test_every_command_has_help(command, capsys):
    """--help describes the command and exits 0."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: diffa2 " + command in capsys.readouterr().out


def test_answer_json_equals_the_python_interface(folder, capsys):
    """diffa2 answer --json gives what DIFFA2.answer_file gives, one JSON line per file."""
    example = os.path.join(folder, "example.wav")
    status, out, _ = run(["answer", "-m", folder, example, example, "-q", "Which?", "--json", *FAST], capsys)
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    expected = DIFFA2.from_hparams(source=folder).answer_file(example, "Which?", steps=4, gen_length=4, block_length=4)
    assert [r["answer"] for r in records] == [expected, expected]
    assert records[0]["file"] == example and records[0]["question"] == "Which?"
    status, out, _ = run(["answer", "-m", folder, example, "-q", "Which?", "--json", "--compile", *FAST], capsys)
    assert status == 0 and [json.loads(line)["answer"] for line in out.splitlines()] == [expected]
    status, out, _ = run(["transcribe", "-m", folder, example, *FAST], capsys)
    assert status == 0 and out.count("\n") == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["answer", "-m", "/no/such/model", "x.wav", "-q", "Why?"], "model folder not found: /no/such/model"),
        (["answer", "-m", "{folder}", "{folder}/missing.wav", "-q", "Why?"], "Audio file not found"),
        (["answer", "-m", "{folder}", "{folder}/hyperparams.yaml", "-q", "Why?"], "Cannot read audio file"),
        (["answer", "-m", "{folder}", "{folder}/example.wav", "-q", "  "], "the question is empty"),
        (["answer", "-m", "{folder}/..", "{folder}/example.wav", "-q", "Why?"], "is not a model folder"),
        (["export", "/no/run", "{folder}/out"], "Recipe output folder not found: /no/run"),
    ],
)
def test_user_errors_are_one_line_with_status_2(argv, message, folder, capsys):
    """No traceback: one 'diffa2: error:' line on stderr, exit status 2."""
    status, out, err = run([a.format(folder=folder) for a in argv], capsys)
    assert status == 2 and out == ""
    assert err.startswith("diffa2: error: ") and message in err and err.count("\n") == 1


def test_eval_delegates_to_the_benchmark_runner(monkeypatch):
    """diffa2 eval ARGS == python -m speechbrain_diffa.evaluation ARGS."""
    seen = []
    monkeypatch.setattr("speechbrain_diffa.evaluation.__main__.main", seen.append)  # console() calls it
    assert cli.main(["eval", "mmau", "--data", "d", "--out", "o"]) == 0
    assert seen == [["mmau", "--data", "d", "--out", "o"]]


def test_convert_release_reports_what_it_mapped(tmp_path, tiny_root, capsys):
    """convert-release --like the tiny YAML: a JSON report, then a loadable model folder."""
    from speechbrain_diffa.demo.tiny_models import make_tiny_diffa2
    from speechbrain_diffa.hub.release_weights import to_released_state

    release = tmp_path / "pytorch_model.bin"
    torch.save(to_released_state(make_tiny_diffa2(tiny_root, stage=2)), release)
    like = os.path.join(os.path.dirname(__file__), "..", "..", "hparams", "diffa2_tiny.yaml")
    out = str(tmp_path / "model")
    status, text, _ = run(
        [
            "convert-release",
            str(release),
            out,
            "--like",
            like,
            "--whisper_path",
            os.path.join(tiny_root, "whisper"),
            "--llm_path",
            os.path.join(tiny_root, "llada"),
        ],
        capsys,
    )
    assert status == 0, text
    report = json.loads(text[: text.rindex("}") + 1])
    assert report["lora"]["rank"] is None and report["frozen_llada"] > 0 and report["frozen_whisper"] > 0
    assert DIFFA2.from_hparams(source=out).model.stage == 2


@pytest.mark.parametrize(
    "option, message",
    [
        (["--batch_size", "-1"], "argument --batch_size: must be a positive integer, got '-1'"),
        (["--batch_size", "0"], "argument --batch_size: must be a positive integer"),
        (["--steps", "0"], "argument --steps: must be a positive integer"),
        (["--gen_length", "-16"], "argument --gen_length: must be a positive integer"),
        (["--threshold", "1.5"], "argument --threshold: must be a number in (0, 1]"),
        (["--factor", "nan"], "argument --factor: must be a number above 0"),
        (["--device", "bogus"], "argument --device: 'bogus' is not a device"),
        (["--device", "cuda:7"], "argument --device: 'cuda:7': this machine has"),
    ],
)
def test_bad_options_give_one_error_line_in_both_command_lines(option, message, folder, capsys):
    """--batch_size -1 printed nothing and exited 0; --steps 0, --device bogus... ended in tracebacks."""
    from speechbrain_diffa.evaluation.__main__ import main as evaluate

    for argv, entry in (
        (["answer", "-m", folder, os.path.join(folder, "example.wav"), "-q", "Why?", *option], cli.main),
        (["mmar", "--data", folder, "--out", folder, *option], evaluate),
    ):
        with pytest.raises(SystemExit) as exited:
            entry(argv)
        err = capsys.readouterr().err
        assert exited.value.code == 2 and message in err, err
        assert [line for line in err.splitlines() if "error:" in line] == [err.splitlines()[-1]]


def test_serve_loads_the_folder_and_its_options_become_the_server_defaults(folder, monkeypatch, capsys):
    """``diffa2 serve`` hands uvicorn the folder's model, with the command line's decoding and limits."""
    import speechbrain_diffa.serving as serving

    seen = {}
    monkeypatch.setattr(serving, "serve", lambda model, **kwargs: seen.update(model=model, **kwargs))
    status, _, err = run(["serve", "-m", folder, "--port", "8123", "--max_batch", "4", "--reference", "--steps", "8"],
                         capsys)  # fmt: skip
    assert status == 0, err
    assert seen["port"] == 8123 and seen["settings"].max_batch == 4 and seen["model_name"] == "diffa2"
    decoding = seen["model"].hparams.decoding
    assert decoding["steps"] == 8 and decoding["cache"] is None and decoding["gen_length"] == 16
    with pytest.raises(SystemExit) as stop:  # argparse: one usage line and the error, status 2
        cli.main(["serve", "-m", folder, "--port", "70000"])
    assert stop.value.code == 2 and "a port number (1-65535)" in capsys.readouterr().err
