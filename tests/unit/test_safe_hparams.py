"""A model folder's YAML cannot run code: each known trick, through DIFFA2.from_hparams and the CLI.

Every trick below ran ``os.system`` under the earlier text-scanning check. Each test plants it in a
copy of a working tiny model folder and asserts that loading is refused with an error naming the
file, and that the marker file the command would create never appears.
"""

import os
import shutil
import time

import pytest

from speechbrain_diffa.cli import main as cli_main
from speechbrain_diffa.hub import model_folder, safe_hparams
from speechbrain_diffa.hub.export import write_tiny_model_folder
from speechbrain_diffa.hub.safe_hparams import HparamsRefused, check_hparams_file, load_safe_hparams
from speechbrain_diffa.inference import DIFFA2

HPARAMS = os.path.join(os.path.dirname(__file__), "..", "..", "hparams")
RECIPE_HPARAMS = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "DIFFA2", "hparams")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, tiny_root):
    """A tiny stage-3 model folder that loads."""
    return write_tiny_model_folder(str(tmp_path_factory.mktemp("good")), tiny_root=tiny_root)


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Each test runs in its own folder, where a planted command would leave its marker."""
    monkeypatch.chdir(tmp_path)


def planted(folder, tmp_path, append="", prepend="", extra_files=None):
    """A copy of ``folder`` whose YAML has ``prepend`` before and ``append`` after its text."""
    evil = tmp_path / "evil"
    shutil.copytree(folder, evil)
    path = evil / "hyperparams.yaml"
    path.write_text(prepend + path.read_text() + "\n" + append + "\n")
    for name, text in (extra_files or {}).items():
        (evil / name).write_text(text)
    return str(evil)


def touch(marker):
    """A YAML flow sequence holding the shell command that would create ``marker`` (in the working folder).

    The name is kept short: HyperPyYAML writes long strings back quoted, which would defuse some tricks.
    """
    return f'["touch {os.path.basename(marker)}"]'


TRICKS = {
    "python_tag": "__x: !!python/object/apply:os.system {cmd}",
    "applyref": "__x: !applyref:os.system {cmd}",
    "implicit_tuple": "__x: (!!python/object/apply:os.system {cmd}, 1)",
    "quoted_implicit_tuple": "__x: '(!!python/object/apply:os.system {cmd}, 1)'",
    "percent_escaped_tag": "__x: !%61pply:os.system {cmd}",
    "verbatim_tag": "__x: !<tag:yaml.org,2002:python/object/apply:os.system> {cmd}",
    "name_tag": "__x: !name:os.system {cmd}",
    "new_tag": "__x: !new:subprocess.Popen [[touch, {marker}]]",
    "module_tag": "__x: !module:os",
    "explicit_tuple": "__x: !tuple (!!python/object/apply:os.system {cmd},)",
    "attribute_reference": "__x: !ref <diffa.llm>",
    # The reference is resolved, written back unquoted, then re-read as a tuple by the unsafe loader (in a
    # process where HyperPyYAML has not loaded a file before: afterwards ruamel quotes such strings).
    "interpolated_tuple": "__a: '!!python/object/apply:os.system'\n__t: !ref (<__a> [touch {marker}],)",
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_a_trick_in_the_yaml_is_refused_before_it_runs(trick, folder, tmp_path):
    marker = tmp_path / "was_run"
    evil = planted(folder, tmp_path, TRICKS[trick].format(cmd=touch(marker), marker=marker.name))
    with pytest.raises(HparamsRefused, match="evil/hyperparams.yaml"):
        DIFFA2.from_hparams(source=evil)
    assert not marker.exists()


def test_a_tag_directive_that_renames_apply_is_refused(folder, tmp_path):
    """``%TAG !x! !apply:`` makes ``!x!os.system`` an ``!apply:os.system``: the parser's view is checked."""
    marker = tmp_path / "was_run"
    evil = planted(folder, tmp_path, f"__x: !x!os.system {touch(marker)}", prepend="%TAG !x! !apply:\n---\n")
    with pytest.raises(HparamsRefused, match=r"line \d+: !apply:os.system is not allowed"):
        DIFFA2.from_hparams(source=evil)
    assert not marker.exists()


def test_an_escaped_include_of_another_file_is_refused(folder, tmp_path):
    """``!inclu%64e:`` is ``!include:``: the second file is never read."""
    marker = tmp_path / "was_run"
    other = {"other.yaml": f"y: !apply:os.system {touch(marker)}\n"}
    evil = planted(folder, tmp_path, "__x: !inclu%64e:other.yaml", extra_files=other)
    with pytest.raises(HparamsRefused, match="!include:other.yaml is not allowed"):
        DIFFA2.from_hparams(source=evil)
    assert not marker.exists()


def test_the_guarded_loader_alone_still_refuses_code(folder, tmp_path, monkeypatch):
    """Without the first check, the loader itself refuses: its callables are allow-listed where they are called."""
    monkeypatch.setattr(safe_hparams, "check_hparams_file", lambda *args, **kwargs: None)
    monkeypatch.setattr(model_folder, "check_hparams_file", lambda path: safe_hparams.compose_hparams(path))
    for i, trick in enumerate(["python_tag", "implicit_tuple", "new_tag", "name_tag"]):
        marker = tmp_path / f"was_run_{i}"
        path = tmp_path / f"h{i}.yaml"
        path.write_text("a: 1\n" + TRICKS[trick].format(cmd=touch(marker), marker=marker.name) + "\n")
        with pytest.raises(HparamsRefused):
            load_safe_hparams(str(path))
        assert not marker.exists(), trick
    path = tmp_path / "call.yaml"
    path.write_text(f"x: !apply:os.system {touch(tmp_path / 'direct')}\n")
    with pytest.raises(HparamsRefused, match="!apply:os.system is not allowed"):
        load_safe_hparams(str(path))
    assert not (tmp_path / "direct").exists()


def test_an_alias_bomb_is_refused_quickly(folder, tmp_path):
    """10^7 expansions of one alias (the earlier check took 30 s): refused in well under a second."""
    lines = ["__l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 8):
        lines.append(f"__l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    evil = planted(folder, tmp_path, "\n".join(lines))
    start = time.time()
    with pytest.raises(HparamsRefused, match="expands to more than"):
        DIFFA2.from_hparams(source=evil)
    assert time.time() - start < 5


def test_a_reference_bomb_is_refused(folder, tmp_path):
    """Strings that double by interpolation at each level (no aliases) are refused the same way."""
    lines = ["__s0: xxxxxxxxxxxxxxxx"] + [f"__s{i}: !ref <__s{i - 1}><__s{i - 1}>" for i in range(1, 40)]
    evil = planted(folder, tmp_path, "\n".join(lines))
    with pytest.raises(HparamsRefused, match="expands to more than"):
        DIFFA2.from_hparams(source=evil)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"a: [1, 2\n", "is not valid YAML"),
        (b"a: \xff\xfe\n", "is not UTF-8"),
        (b"- 1\n- 2\n", "mapping of keys at the top level"),
        (b"a: " + b"[" * 200 + b"]" * 200 + b"\n", "nested"),
    ],
)
def test_a_broken_yaml_gives_one_error_naming_the_file(tmp_path, content, match):
    path = tmp_path / "hyperparams.yaml"
    path.write_bytes(content)
    with pytest.raises(HparamsRefused, match=match) as caught:
        check_hparams_file(str(path))
    assert str(path) in str(caught.value)


def test_the_cli_reports_a_refused_folder_in_one_line(folder, tmp_path, capsys):
    marker = tmp_path / "was_run"
    evil = planted(folder, tmp_path, TRICKS["applyref"].format(cmd=touch(marker), marker=marker.name))
    status = cli_main(["answer", "--model", evil, os.path.join(folder, "example.wav"), "-q", "Which?"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1
    assert err[0].startswith("diffa2: error: ") and "!applyref:os.system is not allowed" in err[0]
    assert not marker.exists()


@pytest.mark.parametrize("name", ["diffa2.yaml", "diffa2_tiny.yaml"])
def test_the_shipped_yamls_pass_the_check(name):
    root = check_hparams_file(os.path.join(HPARAMS, name))
    assert "llm_path" in {key.value for key, _ in root.value}


def test_plain_values_tuples_and_allowed_calls_still_load(tmp_path):
    path = tmp_path / "h.yaml"
    path.write_text(
        "taps: [1, 2, 3]\nn: !apply:len [!ref <taps>]\npair: (3, 'a')\nname: !ref <taps>\n"
        "copied: !copy <taps>\nwhen: 2026-12-01\n"
    )
    hparams = load_safe_hparams(str(path))
    assert hparams["n"] == 3 and hparams["pair"] == (3, "a") and hparams["copied"] == [1, 2, 3]
    assert hparams["copied"] is not hparams["taps"] and hparams["name"] is hparams["taps"]


@pytest.mark.parametrize(
    "lines, match",
    [
        # a plain string that names itself doubles at each resolution round (found by review: 268 M chars in 72 s)
        (["__a: '<__a><__a>'", "__b: !ref <__a>"], "circular reference"),
        # arithmetic HyperPyYAML would evaluate after interpolating
        (["__n: 3", "__p: !ref <__n> ** 10 ** 9"], "evaluated as arithmetic"),
        (["__n: 3", "__p: !ref \"'x' * 10 ** 10 + '<__n>'\""], "evaluated as arithmetic"),
        (["__c: 9 ** 9 ** 9", "__a: !ref <__c>", "__p: !ref <__a> + 1"], "evaluated as arithmetic"),
        (["__n: 1", "__p: !ref \"'%0999999999d' % <__n>\""], "evaluated as arithmetic"),
        (["__r: &r [*r]"], "circular reference or alias"),
    ],
)
def test_reference_tricks_that_would_not_end_are_refused(folder, tmp_path, lines, match):
    evil = planted(folder, tmp_path, "\n".join(lines))
    start = time.time()
    with pytest.raises(HparamsRefused, match=match):
        DIFFA2.from_hparams(source=evil)
    assert time.time() - start < 5


def test_many_references_are_checked_in_linear_time(tmp_path):
    """45,000 keys and 76,000 references (1 MB) took over 3 minutes when each reference scanned every key."""
    keys = [f"a{i}: 1" for i in range(20000)]
    path = tmp_path / "h.yaml"
    path.write_text("\n".join(keys) + "\nz: !ref " + "<a19999>" * 40000 + "\n")
    start = time.time()
    check_hparams_file(str(path))  # within every bound: it passes, quickly
    assert time.time() - start < 10
