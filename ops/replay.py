"""Replay the bus archive for a time window: every archived event in it is put on the bus
again, and the consumers, idempotent by eventId, apply only what they had not applied.

    python -m ops.replay --since 2026-11-26T09:00:00Z [--until 2026-11-26T10:00:00Z]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

import boto3

from ops.deployment import progress, stack_outputs

DONE = {"COMPLETED", "FAILED", "CANCELLED"}


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def replay(
    outputs: dict[str, str], since: datetime, until: datetime, *, events=None, out=sys.stderr, timeout: float = 900
) -> dict:
    events = events or boto3.client("events")
    archive = events.describe_archive(ArchiveName=outputs["EventArchiveName"])
    name = f"replay-{int(time.time())}"
    events.start_replay(
        ReplayName=name,
        EventSourceArn=archive["ArchiveArn"],
        EventStartTime=since,
        EventEndTime=until,
        Destination={"Arn": outputs["EventBusArn"]},
        Description=f"ops.replay {since.isoformat()} .. {until.isoformat()}",
    )
    window = max((until - since).total_seconds(), 1)
    deadline = time.monotonic() + timeout
    while True:
        state = events.describe_replay(ReplayName=name)
        last = state.get("EventLastReplayedTime")
        done = window if state["State"] == "COMPLETED" else (last - since).total_seconds() if last else 0
        print(
            f"\r{state['State']:10} {progress(int(min(done, window)), int(window))} seconds of the window",
            end="",
            file=out,
            flush=True,
        )
        if state["State"] in DONE or time.monotonic() > deadline:
            print(file=out)
            return {
                "replay": name,
                "state": state["State"],
                "reason": state.get("StateReason", ""),
                "archivedEvents": archive.get("EventCount"),
                "window": f"{since.isoformat()} .. {until.isoformat()}",
            }
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.replay", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--since", required=True, type=parse_time, help="start of the window (ISO 8601, UTC if no zone)"
    )
    parser.add_argument("--until", type=parse_time, default=None, help="end of the window (default: now)")
    parser.add_argument("--stage", default=None)
    args = parser.parse_args(argv)
    until = args.until or datetime.now(UTC)
    if until <= args.since:
        parser.error("--until must be after --since")
    summary = replay(stack_outputs(args.stage), args.since, until)
    print(", ".join(f"{k}: {v}" for k, v in summary.items() if v not in ("", None)))
    return 0 if summary["state"] == "COMPLETED" else 1


if __name__ == "__main__":
    sys.exit(main())
