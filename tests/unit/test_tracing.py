"""Tracing never costs the outbox its batch (lambdas/common/tracing.py): whatever X-Ray does, the
hand-offs are recorded or dropped, within a bound, and the exception never reaches the batch."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import boto3
import pytest

from common import tracing

ROOT = "1-67890abc-0123456789abcdef01234567"
SAMPLED = f"Root={ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1"


@pytest.fixture
def silent_endpoint():
    """An X-Ray that takes the connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[tuple[socket.socket, object]] = []
    threading.Thread(target=lambda: accepted.extend(server.accept() for _ in range(4)), daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_an_x_ray_that_never_answers_costs_the_batch_seconds_not_its_timeout(silent_endpoint, monkeypatch):
    client = boto3.client(
        "xray",
        endpoint_url=silent_endpoint,
        region_name="us-east-1",
        config=tracing.RECORDING,
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    warned = []
    monkeypatch.setattr(tracing.logger, "warning", lambda message, **kw: warned.append(kw["extra"]["reason"]))
    handoff = tracing.Handoff("Publisher", lambda: client)
    handoff.hand_on("1", SAMPLED, "ORDER_CREATED")
    started = time.monotonic()
    handoff.close(set())  # botocore's defaults: 60 s a read, 3 attempts (the Publisher's timeout is 30 s)
    assert time.monotonic() - started < 10 and warned and "ReadTimeout" in warned[0]


@pytest.mark.parametrize("answer", [{}, RuntimeError("anything")])
def test_an_answer_tracing_does_not_expect_is_logged_never_raised(answer, monkeypatch):
    def put_trace_segments(**_):
        if isinstance(answer, Exception):
            raise answer
        return answer

    warned = []
    monkeypatch.setattr(tracing.logger, "warning", lambda message, **kw: warned.append(message))
    handoff = tracing.Handoff(
        "Publisher", lambda: type("X", (), {"put_trace_segments": staticmethod(put_trace_segments)})
    )
    handoff.hand_on("1", SAMPLED, "ORDER_CREATED")
    handoff.close(set())
    assert warned == ([] if answer == {} else ["trace segments not recorded"])


def test_a_hand_off_keeps_the_headers_other_fields_and_a_new_batch_drops_what_a_failed_one_left():
    sent: list[list[str]] = []

    def put_trace_segments(**kw: Any) -> dict[str, list[str]]:
        sent.append(kw["TraceSegmentDocuments"])
        return {"UnprocessedTraceSegments": []}

    handoff = tracing.Handoff(
        "Publisher", lambda: type("X", (), {"put_trace_segments": staticmethod(put_trace_segments)})
    )
    handed = tracing.parse(handoff.hand_on("1", SAMPLED, "ORDER_CREATED"))
    assert handed["Root"] == ROOT and handed["Lineage"] == "a87bd80c:1" and handed["Parent"] != "53995c3f42cd8ad8"
    handoff.begin()  # the batch before failed before its close: its hand-off is not recorded as done
    handoff.hand_on("2", SAMPLED, "ORDER_COMPLETED")
    handoff.close(set())
    [[document]] = sent
    assert '"ORDER_COMPLETED"' in document
