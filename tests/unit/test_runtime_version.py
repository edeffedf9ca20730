"""The functions are deployed on infra.runtime.PYTHON_RUNTIME (python3.12) and run here on the
local cloud's own interpreter (3.11 on this machine; `make up` and `make status` say so). The
code under lambdas/ must hold on the deployed one: parsed and its imports found by that
interpreter when it is installed, and in any case free of what Python removed by then."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.runtime import PYTHON_RUNTIME

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"
# Standard modules gone by 3.12 (PEP 594 and PEP 632): an import of one fails on the runtime.
REMOVED_BY_312 = {"distutils", "imp", "asynchat", "asyncore", "smtpd"}


def sources() -> list[Path]:
    return sorted(LAMBDAS.rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


CHECK_ON_RUNTIME = """
import ast, importlib.util, json, sys
problems = []
for path, modules in json.load(sys.stdin).items():
    try:
        ast.parse(open(path).read(), filename=path)
    except SyntaxError as error:
        problems.append(f"{path}: {error}")
    for name in modules:  # the standard modules it imports, as this machine's Python knows them
        if importlib.util.find_spec(name) is None:
            problems.append(f"{path}: imports {name}, which this Python does not have")
print(json.dumps(problems))
"""


def runtime_interpreter() -> str | None:
    """The deployed runtime's interpreter, if this machine has one that runs (a pyenv shim for a
    version not selected does not)."""
    version = PYTHON_RUNTIME.removeprefix("python")
    candidates = [
        shutil.which(PYTHON_RUNTIME),
        *map(str, Path.home().glob(f".pyenv/versions/{version}*/bin/{PYTHON_RUNTIME}")),
    ]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0 and probe.stdout.strip() == str(tuple(int(p) for p in version.split("."))):
            return candidate
    return None


def test_lambdas_parse_and_find_their_standard_imports_on_the_deployed_runtime():
    interpreter = runtime_interpreter()
    if interpreter is None:
        pytest.skip(f"{PYTHON_RUNTIME} is not installed on this machine: only the removed-module check below ran")
    files = {str(path): sorted(imported_modules(path) & sys.stdlib_module_names) for path in sources()}
    result = subprocess.run(
        [interpreter, "-c", CHECK_ON_RUNTIME], input=json.dumps(files), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_lambdas_import_nothing_python_removed_before_the_deployed_runtime():
    found = {str(path.relative_to(LAMBDAS)): sorted(imported_modules(path) & REMOVED_BY_312) for path in sources()}
    assert len(found) > 40  # every module of the functions was read
    assert {path: names for path, names in found.items() if names} == {}


def test_the_local_interpreter_and_the_deployed_runtime_are_told_apart():
    from localcloud.__main__ import runtime_note

    local = f"python{sys.version_info.major}.{sys.version_info.minor}"
    note = runtime_note()
    assert f"functions run on {local} here" in note and f"deployed, on {PYTHON_RUNTIME}" in note
    assert ("warning:" in note) == (local != PYTHON_RUNTIME)
