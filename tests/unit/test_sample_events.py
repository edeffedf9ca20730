"""The files in events/ are valid `aws events put-events --entries` input and valid events."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from catalog import CATALOG, EventType, parse_event
from common.limits import MAX_ENTRY_BYTES, entry_size

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "events").glob("*.json"))
ENTRY_KEYS = {"Source", "DetailType", "Detail", "EventBusName", "Resources", "Time", "TraceHeader"}


def test_every_event_type_has_a_sample():
    types = {entry["DetailType"] for path in SAMPLES for entry in json.loads(path.read_text())}
    assert types == {t.value for t in EventType}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_each_sample_is_a_put_events_entries_file(path):
    entries = json.loads(path.read_text())
    assert isinstance(entries, list) and 1 <= len(entries) <= 10
    for entry in entries:
        assert set(entry) <= ENTRY_KEYS
        assert isinstance(entry["Detail"], str), "the CLI takes Detail as a JSON string"
        assert entry["EventBusName"] == "order-platform-dev"
        assert entry_size(entry["Source"], entry["DetailType"], entry["Detail"]) <= MAX_ENTRY_BYTES
        assert entry["Source"] == CATALOG[EventType(entry["DetailType"])].source.value


@pytest.mark.parametrize("path", [p for p in SAMPLES if "-bad-" not in p.name], ids=lambda p: p.name)
def test_each_valid_sample_parses_as_its_event_type(path):
    for entry in json.loads(path.read_text()):
        assert parse_event(entry["Detail"]).eventType == entry["DetailType"]


@pytest.mark.parametrize("path", [p for p in SAMPLES if "-bad-" in p.name], ids=lambda p: p.name)
def test_each_malformed_sample_is_refused_by_the_models(path):
    for entry in json.loads(path.read_text()):
        with pytest.raises(ValidationError):
            parse_event(entry["Detail"])


def test_the_readme_security_exceptions_are_generated_from_the_code():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.security_doc", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_the_openapi_document_is_generated_from_the_routes_and_models():
    result = subprocess.run(
        [sys.executable, "-m", "scripts.openapi", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    from infra.consumers import HTTP_SERVICES

    assert {(m, p) for s in HTTP_SERVICES for m, p in s.routes} == {
        (method.upper(), path) for path, operations in document["paths"].items() for method in operations
    }
