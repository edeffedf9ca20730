"""`make quick`: the fast tests that a change can break, and only those.

What changed: the files that differ from main (committed on this branch, staged, or not yet),
and new files. What they can break, found from the imports, not from a hand-kept list:

- a module under lambdas/ belongs to a package (orders, eventstore, common...); a test is
  picked when it imports that package, or a package that imports it, however indirectly
  (a change to eventstore picks the orders API's tests, since orders imports eventstore);
- a changed test file, or a helper under tests/support, picks itself or the tests that import it;
  a changed conftest.py picks every test under its folder;
- a changed module of the tools (localcloud, ops, chaos, bench, scripts, infra) picks the fast
  tests that import it.

Only the fast suites are run (tests/unit, tests/handlers, tests/properties: no synth, no
cloud), in parallel; the slow suites the change reaches are named at the end, with the command
that runs them. `python -m scripts.quick --list` prints the choice without running it.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
FAST = ("tests/unit", "tests/handlers", "tests/properties")
SLOW = {
    "tests/e2e": "make e2e",
    "tests/chaos": "python -m pytest tests/chaos",
    "tests/infra": "python -m pytest tests/infra",
    "tests/bench": "python -m pytest tests/bench",
}
TOOLS = ("localcloud", "ops", "chaos", "bench", "scripts", "infra", "tests")


def changed_files(base: str = "main") -> list[str]:
    """Files that differ from `base` (its merge base with HEAD), in the tree or not yet added."""

    def git(*args: str) -> list[str]:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return [line for line in result.stdout.splitlines() if line]

    merge_base = git("merge-base", "HEAD", base)[0]
    return sorted(set(git("diff", "--name-only", merge_base)) | set(git("ls-files", "--others", "--exclude-standard")))


@cache
def imports_of(path: Path) -> frozenset[str]:
    """The dotted names a file imports, anywhere in it (tests import inside functions too)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, FileNotFoundError):
        return frozenset()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return frozenset(names)


def packages() -> list[str]:
    return sorted(p.name for p in LAMBDAS.iterdir() if (p / "__init__.py").exists())


def package_dependents() -> dict[str, set[str]]:
    """For each package under lambdas/, itself and every package that imports it, transitively."""
    names = packages()
    uses = {
        name: {imported.split(".")[0] for path in (LAMBDAS / name).rglob("*.py") for imported in imports_of(path)}
        & set(names)
        for name in names
    }
    dependents = {name: {name} for name in names}
    changed = True
    while changed:
        changed = False
        for name, used in uses.items():
            for dependency in used:
                for group in dependents.values():
                    if dependency in group and name not in group:
                        group.add(name)
                        changed = True
    return dependents


def touched_modules(files: list[str]) -> tuple[set[str], set[str]]:
    """(packages under lambdas/ reached, dotted tool modules changed) by these files."""
    reached, tools = set(), set()
    dependents = package_dependents()
    for name in files:
        parts = Path(name).with_suffix("").parts
        if not name.endswith(".py"):
            continue
        if parts[0] == "lambdas" and len(parts) > 1 and parts[1] in dependents:
            reached |= dependents[parts[1]]
        elif parts[0] in TOOLS:
            tools.add(".".join(p for p in parts if p != "__init__"))
    return reached, tools


def selected(files: list[str]) -> tuple[list[str], list[str]]:
    """(fast test files to run, slow suites also reached)."""
    reached, tools = touched_modules(files)
    fixtures = [str(Path(name).parent) + "/" for name in files if Path(name).name == "conftest.py"]
    chosen, slow = set(), set()
    if reached or any(t.startswith("localcloud") for t in tools):  # what the end-to-end suites deploy or run on
        slow |= {"tests/e2e", "tests/chaos"}
    for suite in (*FAST, *SLOW):
        for test in sorted((ROOT / suite).rglob("test_*.py")):
            relative = str(test.relative_to(ROOT))
            imported = imports_of(test)
            hits = (
                relative in files
                or any(relative.startswith(folder) for folder in fixtures)
                or any(i.split(".")[0] in reached for i in imported)
                or any(i == t or i.startswith(t + ".") for i in imported for t in tools)
                # a package a test imports (localcloud.fixes) reaches the modules in it
                or any("." in i and t.startswith(i + ".") for i in imported for t in tools)
            )
            if hits:
                (chosen.add(relative) if suite in FAST else slow.add(suite))
    return sorted(chosen), sorted(slow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.quick", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", default="main", help="what the change is measured against (main)")
    parser.add_argument("--list", action="store_true", help="print the tests chosen, run nothing")
    args = parser.parse_args(argv)
    files = changed_files(args.base)
    tests, slow = selected(files)
    print(f"{len(files)} file(s) changed since {args.base}; {len(tests)} fast test file(s) reach them")
    for test in tests:
        print(f"  {test}")
    code = 0
    if tests and not args.list:
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-n", "2", *tests], cwd=ROOT)
    for suite in slow:
        print(f"the change also reaches {suite}: {SLOW[suite]}")
    return code


if __name__ == "__main__":
    sys.exit(main())
