"""Everything tracing does, in one place: changing how the platform traces changes this module.

The provider is Lambda's active tracing alone (docs/DECISIONS.md, "Tracing"): no tracing SDK
runs in a function. Lambda records each invocation's segment itself, in the trace of the
request that caused it, and gives the invocation that trace's header (`_X_AMZN_TRACE_ID`):

- an API request starts the trace (API Gateway, tracing on);
- each event is stored with the header of the invocation that wrote it (`invocation_header`);
- the outbox hands each event on with a segment of its own (`Handoff`), whose id is the parent
  EventBridge passes to every consumer of the event (the entry's TraceHeader);
- each consumer's invocation is then a segment of the same trace, and so are the events it
  stores in turn: one trace an order, from its POST through every hop of the saga.

A function's segment shows its duration, its init on a cold start, and whether it failed; it
does not break the invocation down by AWS call (the X-Ray SDK's subsegments did: see the
decision for what that cost, and what would bring it back).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from common.observability import logger

Handler = TypeVar("Handler", bound=Callable[..., Any])

# PutTraceSegments takes at most 50 documents a call.
SEGMENTS_PER_CALL = 50
# X-Ray's ids: a trace's root (version, epoch seconds in hex, 96 random bits) and a segment's id.
ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
SEGMENT_ID = re.compile(r"[0-9a-f]{16}")
# Recording a trace may cost the batch a second or two at worst, never its timeout: one attempt,
# short timeouts (the segments of a batch that cannot be recorded at once are dropped).
RECORDING = Config(connect_timeout=1, read_timeout=1, retries={"mode": "standard", "total_max_attempts": 1})


@cache
def xray():
    """The X-Ray client tracing records with: its own, with RECORDING's bounds."""
    return boto3.client("xray", config=RECORDING)


def traced_handler(handler: Handler) -> Handler:
    """The handler, traced. Lambda records the invocation's segment: nothing to add."""
    return handler


def invocation_header() -> str | None:
    """The trace header of the running invocation (Lambda sets it for each one), if traced."""
    return os.environ.get("_X_AMZN_TRACE_ID") or None


def parse(header: str) -> dict[str, str]:
    """`Root=1-...;Parent=...;Sampled=1` -> {"Root": ..., "Parent": ..., "Sampled": "1"}."""
    return dict(part.split("=", 1) for part in header.split(";") if "=" in part)


class Handoff:
    """The outbox's part of each sampled trace: for each event handed on, a segment from the
    record read to the event accepted by the bus (or not), the parent of its consumers'
    segments. An unsampled trace is handed on as it is, and records nothing.

    Tracing never fails a batch: a segment that cannot be recorded (X-Ray slow, down, or
    answering anything unexpected) is logged and dropped, as the X-Ray daemon drops what it
    cannot send."""

    def __init__(self, name: str, client_factory: Callable[[], Any] = xray):
        self._name = name
        self._client = client_factory
        self._open: dict[str, dict[str, Any]] = {}

    def begin(self) -> None:
        """A new batch: hand-offs left open by one that failed are dropped (it comes again)."""
        self._open.clear()

    def hand_on(self, key: str, header: str, event_type: str) -> str:
        """The header the event goes on with: the same trace, its parent this hand-off (any other
        field of the header, Lineage among them, kept)."""
        fields = parse(header)
        if fields.get("Sampled") != "1" or not ROOT.fullmatch(fields.get("Root", "")):
            return header  # not sampled, or not X-Ray's: handed on as it is, nothing recorded
        parent = fields.get("Parent", "")
        segment_id = secrets.token_hex(8)
        self._open[key] = {
            "name": self._name,
            "id": segment_id,
            "trace_id": fields["Root"],
            **({"parent_id": parent} if SEGMENT_ID.fullmatch(parent) else {}),
            "start_time": time.time(),
            "annotations": {"eventType": event_type},
        }
        handed = {"Root": fields["Root"], "Parent": segment_id, "Sampled": "1"}
        handed |= {name: value for name, value in fields.items() if name not in handed}
        return ";".join(f"{name}={value}" for name, value in handed.items())

    def close(self, failed: set[str]) -> None:
        """Record the hand-offs, the failed ones as faults."""
        ended = time.time()
        documents = [
            json.dumps({**segment, "end_time": ended, **({"fault": True} if key in failed else {})})
            for key, segment in self._open.items()
        ]
        self._open.clear()
        for start in range(0, len(documents), SEGMENTS_PER_CALL):
            try:
                answer = self._client().put_trace_segments(
                    TraceSegmentDocuments=documents[start : start + SEGMENTS_PER_CALL]
                )
                unprocessed = answer.get("UnprocessedTraceSegments") or []
            except Exception as error:
                logger.warning("trace segments not recorded", extra={"reason": f"{type(error).__name__}: {error}"})
                continue
            if unprocessed:
                logger.warning("trace segments not recorded", extra={"unprocessed": len(unprocessed)})
