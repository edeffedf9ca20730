"""The API client of the benchmark, the chaos suite and the e2e tests: each route through its
door (a customer's token, or SigV4 for staff), and throttling waited out."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from localcloud.api import Api

ENV = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


@pytest.fixture
def gateway():
    """A stand-in gateway on loopback that throttles the first `throttled` requests."""
    state: dict[str, Any] = {"throttled": 0, "seen": 0, "authorization": []}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            state["seen"] += 1
            state["authorization"].append(self.headers.get("Authorization"))
            throttled = state["seen"] <= state["throttled"]
            body = json.dumps({"message": "Too Many Requests"} if throttled else {"ok": True}).encode()
            self.send_response(429 if throttled else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Api(f"http://127.0.0.1:{server.server_port}", ENV, token="id-token-of-ada"), state
    server.shutdown()
    server.server_close()


def test_a_throttled_request_is_sent_again_until_it_goes_through(gateway):
    api, state = gateway
    state["throttled"] = 3
    assert api("GET", "/orders/x") == {"ok": True}
    assert state["seen"] == 4


def test_throttling_that_does_not_end_is_an_error(gateway, monkeypatch):
    api, state = gateway
    state["throttled"] = 100
    pauses: list[float] = []
    monkeypatch.setattr("localcloud.api.time.sleep", pauses.append)
    with pytest.raises(RuntimeError, match="429"):
        api("GET", "/orders/x")
    assert state["seen"] == Api.THROTTLED_RETRIES + 1
    assert pauses == sorted(pauses) and pauses[-1] <= 2.0  # growing, and capped
    assert api.send("GET", "/orders/x").status == 429  # send() reports what came, as it came


def test_each_route_is_called_through_its_door(gateway):
    api, state = gateway
    api("GET", "/orders/o-1")
    api("GET", "/users/me")
    api("GET", "/inventory/SKU-1")
    api("GET", "/analytics/daily?date=2026-12-01")
    api.send("GET", "/inventory/SKU-1", auth="token")  # an attacker's choice of door
    api.send("GET", "/orders/o-1", auth="none")
    sent = state["authorization"]
    assert sent[:2] == ["id-token-of-ada"] * 2  # customer routes: the ID token
    assert all(header.startswith("AWS4-HMAC-SHA256 Credential=test/") for header in sent[2:4])  # staff: SigV4
    assert sent[4:] == ["id-token-of-ada", None]


def test_a_customer_route_without_a_customer_is_a_mistake_of_the_caller():
    with pytest.raises(ValueError, match="customer route"):
        Api("http://127.0.0.1:9", ENV).send("GET", "/orders/o-1")
