"""Repository conventions a contributor can break without noticing: docstrings, pointers, dependencies."""

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "speechbrain_diffa"
TEXT_FILES = [
    p
    for pattern in ("*.py", "*.md", "*.yaml", "*.sh", "*.toml")
    for p in REPO.rglob(pattern)
    if not {".venv", ".git", "results", "build"} & set(p.relative_to(REPO).parts)
    and not p.relative_to(REPO).parts[0].endswith(".egg-info")
]


def missing_docstrings(path):
    """SpeechBrain's rule (its ``tests/utils/check_docstrings.py``), line by line as that check reads files.

    After each ``def``/``class`` line of a public name, the next line that is not blank, not a comment
    and holds neither ``>>>`` nor ``...`` must open a docstring.
    """
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("#") and ">>>" not in line and "..." not in line]
    problems = [] if lines and lines[0].startswith(('"', 'r"')) else ["module docstring"]
    for line, following in zip(lines, lines[1:]):
        named = re.match(r"def\s(.*)\(.*\)\:", line) or re.match(r"class\s(.*)\:", line)
        if named and not named.group(1).startswith("_") and not following.startswith(('"', 'r"')):
            problems.append(named.group(1))
    return problems


def test_every_public_function_and_class_has_a_docstring():
    problems = {
        str(p.relative_to(REPO)): missing_docstrings(p) for p in PACKAGE.rglob("*.py") if "__" not in str(p.name)
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_nothing_points_outside_the_repository():
    """Users have only the repository: no pointer to the maintainers' notes, and every docs/ page named exists."""
    outside = re.compile(r"\.\./shared|\breference/[\w-]+\.md|\bDESIGN\.md")
    named_docs = re.compile(r"\bdocs/[\w./-]+\.md")
    problems = []
    for path in TEXT_FILES:
        if path.name == Path(__file__).name:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{path.relative_to(REPO)}: {m}" for m in outside.findall(text)]
        problems += [f"{path.relative_to(REPO)}: {m}" for m in named_docs.findall(text) if not (REPO / m).is_file()]
    assert problems == []


def _third_party_imports():
    names = set()
    for path in list(PACKAGE.rglob("*.py")) + list((REPO / "recipes").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {"speechbrain_diffa", "train", "prepare_asr", "prepare_audio_qa", "prepare_preferences"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def _normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_declared_dependencies_are_what_the_code_imports():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [s for extra in project["optional-dependencies"].values() for s in extra]
    declared = {_normalise(re.split(r"[<>=!~ \[;]", spec)[0]) for spec in specs}
    distributions = importlib.metadata.packages_distributions()
    imported = {
        _normalise(distributions.get(name, [name])[0]) for name in _third_party_imports()
    }  # optional: not installed
    # tensorboard: SpeechBrain's TensorboardLogger needs it for use_tensorboard; the test extras serve the tests.
    used_without_import = {"tensorboard", "pytest", "openai"}
    assert imported - declared == set(), "imported but not declared"
    assert declared - imported - used_without_import == set(), "declared but never imported"
