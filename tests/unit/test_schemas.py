"""Schema evolution: what is breaking, how old events are read, and that every published
version can still be read by today's code."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from catalog import CATALOG, EventType, parse_event
from catalog.schemas import breaking_changes, schema_of
from catalog.upcasting import UPCASTERS, UnreadableVersion
from tests.support import orders

ROOT = Path(__file__).resolve().parents[2]
ORDER_CREATED = schema_of(EventType.ORDER_CREATED)


def payload_schema(schema: dict) -> dict:
    return schema["definitions"]["OrderCreated"]


def changed(edit) -> dict:
    schema = copy.deepcopy(ORDER_CREATED)
    edit(payload_schema(schema))
    return schema


def test_the_same_schema_is_compatible():
    assert breaking_changes(ORDER_CREATED, ORDER_CREATED) == []


def test_a_new_optional_field_is_compatible():
    def add_note(payload):
        payload["properties"]["note"] = {"type": "string"}

    assert breaking_changes(ORDER_CREATED, changed(add_note)) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda p: p["properties"].pop("customerId"), "event.payload.customerId removed"),
        (lambda p: p["properties"].update(customerId={"type": "integer"}), "event.payload.customerId retyped"),
        (
            lambda p: (p["properties"].update(note={"type": "string"}), p["required"].append("note")),
            "event.payload.note is newly required",
        ),
    ],
)
def test_removed_retyped_and_newly_required_fields_are_breaking(edit, problem):
    problems = breaking_changes(ORDER_CREATED, changed(edit))
    assert any(p.startswith(problem) for p in problems), problems


def test_order_created_v2_is_breaking_against_v1_which_is_why_it_has_an_upcaster():
    v1 = json.loads((ROOT / "schemas/ORDER_CREATED/v1.json").read_text())
    assert breaking_changes(v1, ORDER_CREATED) == ["event.payload.currency is newly required"]
    assert ("ORDER_CREATED", 1) in UPCASTERS


def test_every_published_version_has_a_way_up_to_the_current_one():
    for event_type, spec in CATALOG.items():
        folder = ROOT / "schemas" / event_type.value
        versions = sorted(int(f.stem[1:]) for f in folder.glob("v*.json"))
        assert versions and versions[-1] == spec.version, event_type
        for version in versions[:-1]:
            assert (event_type.value, version) in UPCASTERS, f"{event_type} v{version} has no upcaster"


def v1_order_created() -> dict:
    """An ORDER_CREATED exactly as a v1 producer wrote it: no currency, schemaVersion 1."""
    detail = orders.created().to_detail()
    del detail["payload"]["currency"]
    detail["metadata"]["schemaVersion"] = 1
    return detail


def test_a_v1_event_is_read_as_v2_in_the_default_currency():
    event = parse_event(v1_order_created())
    assert event.payload.currency == "EUR"
    assert event.metadata.schemaVersion == 2


def test_upcasting_leaves_the_stored_event_as_it_was():
    stored = v1_order_created()
    before = copy.deepcopy(stored)
    parse_event(stored)
    assert stored == before


def test_new_events_are_written_at_the_current_version():
    assert orders.created().metadata.schemaVersion == 2
    assert orders.cancelled().metadata.schemaVersion == 1


def test_an_event_from_a_newer_producer_is_refused_clearly():
    detail = orders.created().to_detail()
    detail["metadata"]["schemaVersion"] = 3
    with pytest.raises(UnreadableVersion, match="v3 is newer than this reader"):
        parse_event(detail)


def test_the_published_schemas_validate_the_examples_shape():
    from catalog.examples import EXAMPLES

    for name, example in EXAMPLES.items():
        schema = json.loads(
            (
                ROOT / "schemas" / example.eventType / f"v{CATALOG[EventType(example.eventType)].version}.json"
            ).read_text()
        )
        assert set(schema["required"]) <= set(example.to_detail()), name
