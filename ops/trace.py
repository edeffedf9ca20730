"""Print one conversation (a correlation id) from the audit log: as a timeline, and as a
Mermaid sequence diagram of which service published what, and what caused it; then, when X-Ray
recorded it, the trace of its first event: every invocation it caused, as a tree.

    python -m ops.trace checkout-42
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3

from audit.log import AuditLog
from ops.deployment import stack_outputs


def timeline(entries: list[dict]) -> str:
    by_id = {e["eventId"]: e for e in entries}
    lines = []
    for e in entries:
        cause = by_id.get(e["causationId"] or "")
        because = f"  <- {cause['eventType']} {cause['eventId'][:8]}" if cause else ""
        lines.append(
            f"{e['at']}  {e['source']:18} {e['eventType']:32} {e['aggregateId']} v{e['version']}"
            f"  [{e['eventId'][:8]}]{because}"
        )
    return "\n".join(lines)


def mermaid(entries: list[dict]) -> str:
    sources = list(dict.fromkeys(e["source"] for e in entries))
    lines = [
        "sequenceDiagram",
        *(f"    participant {_alias(s)} as {s}" for s in sources),
        "    participant bus as EventBridge",
    ]
    by_id = {e["eventId"]: e for e in entries}
    for e in entries:
        lines.append(f"    {_alias(e['source'])}->>bus: {e['eventType']} {e['aggregateId'][:13]} v{e['version']}")
        cause = by_id.get(e["causationId"] or "")
        if cause:
            lines.append(f"    Note right of bus: caused by {cause['eventType']} {cause['eventId'][:8]}")
    return "\n".join(lines)


def xray_tree(entries: list[dict], outputs: dict[str, str]) -> str:
    """The X-Ray trace the first event was stored in (lambdas/common/tracing.py), as a tree of its
    segments: each function's invocation, and the outbox's hand-off of each event between them."""
    first = entries[0]
    item = (
        boto3.client("dynamodb")
        .get_item(
            TableName=outputs["EventStoreTableName"],
            ConsistentRead=True,
            Key={"aggregateId": {"S": first["aggregateId"]}, "version": {"N": str(first["version"])}},
        )
        .get("Item", {})
    )
    header = dict(part.split("=", 1) for part in item.get("traceHeader", {}).get("S", "").split(";") if "=" in part)
    if header.get("Sampled") != "1":
        return (
            "X-Ray: this conversation was not sampled (the default rule records 1 request in 20, and the first "
            "each second)"
        )
    traces = boto3.client("xray").batch_get_traces(TraceIds=[header["Root"]])["Traces"]
    if not traces:
        return f"X-Ray: trace {header['Root']} is not recorded (yet: X-Ray takes a few seconds)"
    segments = [json.loads(segment["Document"]) for segment in traces[0]["Segments"]]
    ids = {segment["id"] for segment in segments}
    children: dict[str | None, list[dict]] = {}
    for segment in sorted(segments, key=lambda s: s["start_time"]):
        children.setdefault(segment.get("parent_id") if segment.get("parent_id") in ids else None, []).append(segment)
    lines = [f"X-Ray trace {header['Root']}: {len(segments)} segment(s)"]
    functions = {
        name: key.removesuffix("FunctionName") for key, name in outputs.items() if key.endswith("FunctionName")
    }

    def walk(parent: str | None, depth: int) -> None:
        for segment in children.get(parent, []):
            what = functions.get(segment["name"], segment["name"])
            what += f" {segment['annotations']['eventType']}" if "annotations" in segment else ""
            took = (segment.get("end_time", segment["start_time"]) - segment["start_time"]) * 1000
            lines.append(f"{'  ' * depth}{what}  {took:.0f} ms" + ("  FAULT" if segment.get("fault") else ""))
            walk(segment["id"], depth + 1)

    walk(None, 1)
    return "\n".join(lines)


def _alias(source: str) -> str:
    return source.replace(".", "_")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.trace", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("correlation_id")
    parser.add_argument("--stage", default=None)
    args = parser.parse_args(argv)
    outputs = stack_outputs(args.stage)
    entries = AuditLog(outputs["AuditTableName"]).chain(args.correlation_id)
    if not entries:
        print(f"no events with correlation id {args.correlation_id}", file=sys.stderr)
        return 1
    print(f"{len(entries)} event(s) with correlation id {args.correlation_id}\n")
    print(timeline(entries))
    print("\n```mermaid\n" + mermaid(entries) + "\n```")
    print("\n" + xray_tree(entries, outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
