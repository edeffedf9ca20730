"""Writes the README's list of security exceptions from infra/compliance.py, so the reasons a
reviewer reads are the ones the gates apply; --check fails when the README is stale."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from infra import compliance

BEGIN, END = "<!-- security-exceptions:begin -->", "<!-- security-exceptions:end -->"


def render() -> str:
    lines = ["| rule | where | reason |", "| --- | --- | --- |"]
    names = {id(value): name for name, value in vars(compliance).items() if isinstance(value, compliance.Waiver)}
    for exception in compliance.ALL:
        rules = ", ".join(f"`{r}`" for r in (*exception.rules, *exception.checkov))
        where = names[id(exception)].lower().replace("_", " ")
        lines.append(f"| {rules} | {where} | {exception.reason} |")
    for check, reason in compliance.CHECKOV_SKIPS.items():
        lines.append(f"| `{check}` (checkov) | every resource of its type | {reason} |")
    for check, reason in compliance.CFN_LINT_IGNORES.items():
        lines.append(f"| `{check}` (cfn-lint) | every template | {reason} |")
    return "\n".join([BEGIN, *lines, END])


def main(check: bool) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    updated = text[:start] + render() + text[end:]
    if check:
        if updated != text:
            print("README's security exceptions are stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv))
