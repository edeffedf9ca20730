"""Mutation testing of the core modules against the fast tests (`make mutate`).

mutmut changes one thing at a time in a module (a `<` to `<=`, a constant, a dropped call), runs
the tests that execute that function, and counts the mutant killed when one of them fails. The
score of a module is the share of its mutants killed: what its tests would notice breaking.

mutmut names a mutant by its file's path under the project root (or `src/`), while the
platform's code is imported as top-level packages from `lambdas/` (`eventstore.store`, not
`lambdas.eventstore.store`). So the run happens in a staging copy, `build/mutation/`, where
`lambdas/` is `src/`; everything else the tests import is copied beside it unchanged.

    python -m scripts.mutate            # every module, then the scores (docs/TESTING.md's table)
    python -m scripts.mutate --scores   # the scores of the last run again, without running it
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / "build" / "mutation"
RESULTS = ROOT / "docs" / "performance" / "mutation.json"

# The modules under test, as issue #17 lists them: each path is under lambdas/ unless it says ops/.
MODULES = {
    "eventstore": "src/eventstore",
    "orders/aggregate.py": "src/orders/aggregate.py",
    "saga/machine.py": "src/saga/machine.py",
    "common/consumer.py": "src/common/consumer.py",
    "publisher": "src/publisher",
    "projection": "src/projection",
    "orders/read_model.py": "src/orders/read_model.py",  # the projection's writes (moved from projection/)
    "inventory/reservations.py": "src/inventory/reservations.py",
    "ops/redrive.py": "ops/redrive.py",
}
FAST_TESTS = ["tests/unit", "tests/handlers", "tests/properties"]
# Tests that run a script of the repository in a process of its own: they find the code in
# lambdas/, which the staging copy calls src/, and no mutant runs in them anyway.
OUTSIDE = ["tests/unit/test_sample_events.py::test_the_openapi_document_is_generated_from_the_routes_and_models"]
# The rest of the repository the tests read (everything but what is built or installed).
LEFT_OUT = {"lambdas", "build", "cdk.out", "node_modules", ".local-cloud", ".git", ".hypothesis", ".pytest_cache"}


def copied() -> list[str]:
    return sorted(
        path.name for path in ROOT.iterdir() if path.name not in LEFT_OUT and not path.name.startswith(".venv")
    )


def stage() -> None:
    """build/mutation/: src/ is lambdas/, the rest as it is; a pyproject.toml whose pytest imports from there."""
    if STAGING.exists():
        shutil.rmtree(STAGING)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")
    shutil.copytree(ROOT / "lambdas", STAGING / "src", ignore=ignore)
    # The tests that read the layout by its folder's name (the runtime's imports, the package
    # cycles, the file-to-test map) find it under its own name too.
    (STAGING / "lambdas").symlink_to("src", target_is_directory=True)
    for name in copied():
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, STAGING / name, ignore=ignore)
        else:
            shutil.copy2(ROOT / name, STAGING / name)
    config = (ROOT / "pyproject.toml").read_text()
    pythonpath = 'pythonpath = ["lambdas", "fault_injection/python", "."]'
    assert pythonpath in config, "pyproject.toml's pytest pythonpath moved: update stage()"
    paths = ", ".join(json.dumps(path) for path in MODULES.values())
    tests = ", ".join(json.dumps(path) for path in FAST_TESTS)
    (STAGING / "pyproject.toml").write_text(
        config.replace(pythonpath, pythonpath.replace('"lambdas"', '"src"')) + "\n"
        "[tool.mutmut]\n"
        f"source_paths = [{paths}]\n"
        f"pytest_add_cli_args_test_selection = [{tests}]\n"
        f"pytest_add_cli_args = {json.dumps(['-q', *(arg for test in OUTSIDE for arg in ('--deselect', test))])}\n"
        f"also_copy = [{', '.join(json.dumps(name) for name in ['src', 'lambdas', *copied()])}]\n"
    )


def run() -> float:
    started = time.monotonic()
    environment = {**os.environ, "HYPOTHESIS_PROFILE": "mutation"}  # tests/conftest.py: no shrinking
    # mutmut, its timeouts sent only to the worker each was set for (scripts/mutmut_run.py)
    mutmut = [sys.executable, str(ROOT / "scripts" / "mutmut_run.py"), "run"]
    subprocess.run(mutmut, cwd=STAGING, env=environment, check=True)
    return time.monotonic() - started


_STATUS = re.compile(r"^\s*(?P<name>[\w.]+?)__mutmut_(?P<n>\d+): (?P<status>.+)$")


def verdicts() -> dict[str, str]:
    """mutmut's verdict on each mutant of the last run, by the mutant's name."""
    text = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=STAGING,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in text.splitlines():
        match = _STATUS.match(line)
        if match:
            found[f"{match['name']}__mutmut_{match['n']}"] = match["status"].strip()
    return found


def outcomes(found: dict[str, str]) -> dict[str, dict[str, int]]:
    """The verdicts counted by module."""
    counts: dict[str, dict[str, int]] = {module: {} for module in MODULES}
    for name, status in found.items():
        module = _module_of(name.rsplit("__mutmut_", 1)[0])
        counts[module][status] = counts[module].get(status, 0) + 1
    return counts


def _module_of(mutant: str) -> str:
    """'eventstore.store.x_EventStore__append' -> 'eventstore' (the entry of MODULES it falls under)."""
    dotted = mutant.replace("ops.", "ops/", 1) if mutant.startswith("ops.") else mutant
    for module in MODULES:
        stem = module.removesuffix(".py")
        if dotted.replace(".", "/").startswith(stem.replace(".", "/")):
            return module
    raise KeyError(f"mutant {mutant} is in none of {list(MODULES)}")


def score(counts: dict[str, int]) -> float | None:
    """Killed (a test failed, or the mutant hung past its timeout) over every mutant judged;
    mutants no test executes count as surviving."""
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    judged = sum(n for status, n in counts.items() if status not in ("skipped", "not checked"))
    return round(100 * killed / judged, 1) if judged else None


DOC = ROOT / "docs" / "TESTING.md"
BEFORE = ROOT / "docs" / "performance" / "mutation-before.json"
BEGIN, END = "<!-- mutation-scores:begin (scripts/mutate.py writes this table) -->", "<!-- mutation-scores:end -->"


def table(report: dict) -> str:
    """The scores, beside the first run's, as docs/TESTING.md shows them."""
    before = json.loads(BEFORE.read_text()) if BEFORE.exists() else None
    head = "| module | mutants | killed | survived | no test runs it | score |" + (" first run |" if before else "")
    lines = [head, "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if before else "")]
    for module, figures in report["modules"].items():
        c = figures["counts"]
        was = (
            f" {before['modules'][module]['score']}% |"
            if before and module in before["modules"]
            else (" - |" if before else "")
        )
        lines.append(
            f"| `{module}` | {sum(c.values())} | {c.get('killed', 0) + c.get('timeout', 0)} | "
            f"{c.get('survived', 0)} | {c.get('no tests', 0)} | **{figures['score']}%** |{was}"
        )
    minutes = f"{report['seconds'] / 60:.0f} min" if report.get("seconds") else "?"
    lines += [
        "",
        f"Run: `make mutate`, {minutes} on this machine (2 cores), commit {report.get('commit', '?')}"
        + (f"; first run: commit {before['commit']}, {before['seconds'] / 60:.0f} min." if before else "."),
    ]
    return "\n".join(lines)


SURVIVORS_BEGIN = "<!-- mutation-survivors:begin (scripts/mutate.py writes this list) -->"
SURVIVORS_END = "<!-- mutation-survivors:end -->"


def write_doc(report: dict) -> None:
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    text = text[:start] + "\n" + table(report) + "\n" + text[end:]
    names = report.get("survivors", [])
    listing = (
        f"The {len(names)} survivors of the last run, by name (`cd build/mutation && python -m mutmut show NAME` "
        "prints a mutant's change):\n\n" + "\n".join(f"- `{name}`" for name in names)
    )
    start, end = text.index(SURVIVORS_BEGIN) + len(SURVIVORS_BEGIN), text.index(SURVIVORS_END)
    DOC.write_text(text[:start] + "\n" + listing + "\n" + text[end:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scores", action="store_true", help="only read the scores of the last run")
    args = parser.parse_args(argv)
    last = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if args.scores:  # the verdicts mutmut kept from the last run, and that run's time and commit
        seconds, commit = last.get("seconds"), last.get("commit")
    else:
        stage()
        seconds, commit = run(), None
    commit = (
        commit
        or subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    )
    found = verdicts()
    report: dict[str, Any] = {
        "seconds": round(seconds) if seconds else None,
        "commit": commit,
        "modules": {module: {"counts": c, "score": score(c)} for module, c in outcomes(found).items()},
        "survivors": sorted(name for name, status in found.items() if status in ("survived", "no tests")),
    }
    for module, figures in report["modules"].items():
        print(f"{module:28} {figures['score']!s:>6}%  {figures['counts']}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    write_doc(report)
    print(f"{(seconds or 0) / 60:.1f} min; written to {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
