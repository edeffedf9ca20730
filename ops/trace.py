"""Print one conversation (a correlation id) from the audit log: as a timeline, and as a
Mermaid sequence diagram of which service published what, and what caused it.

    python -m ops.trace checkout-42
"""

from __future__ import annotations

import argparse
import sys

from audit.log import AuditLog
from ops.deployment import stack_outputs


def timeline(entries: list[dict]) -> str:
    by_id = {e["eventId"]: e for e in entries}
    lines = []
    for e in entries:
        cause = by_id.get(e["causationId"] or "")
        because = f"  <- {cause['eventType']} {cause['eventId'][:8]}" if cause else ""
        lines.append(f"{e['at']}  {e['source']:18} {e['eventType']:32} {e['aggregateId']} v{e['version']}"
                     f"  [{e['eventId'][:8]}]{because}")
    return "\n".join(lines)


def mermaid(entries: list[dict]) -> str:
    sources = list(dict.fromkeys(e["source"] for e in entries))
    lines = ["sequenceDiagram", *(f"    participant {_alias(s)} as {s}" for s in sources), "    participant bus as EventBridge"]
    by_id = {e["eventId"]: e for e in entries}
    for e in entries:
        lines.append(f"    {_alias(e['source'])}->>bus: {e['eventType']} {e['aggregateId'][:13]} v{e['version']}")
        cause = by_id.get(e["causationId"] or "")
        if cause:
            lines.append(f"    Note right of bus: caused by {cause['eventType']} {cause['eventId'][:8]}")
    return "\n".join(lines)


def _alias(source: str) -> str:
    return source.replace(".", "_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.trace", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("correlation_id")
    parser.add_argument("--stage", default=None)
    args = parser.parse_args(argv)
    entries = AuditLog(stack_outputs(args.stage)["AuditTableName"]).chain(args.correlation_id)
    if not entries:
        print(f"no events with correlation id {args.correlation_id}", file=sys.stderr)
        return 1
    print(f"{len(entries)} event(s) with correlation id {args.correlation_id}\n")
    print(timeline(entries))
    print("\n```mermaid\n" + mermaid(entries) + "\n```")
    return 0


if __name__ == "__main__":
    sys.exit(main())
