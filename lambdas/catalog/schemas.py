"""JSON Schemas of the events, generated from the models, and what counts as a breaking change.

The schemas of every version ever published are kept in schemas/<TYPE>/v<N>.json: stored
events were written against them, and a reader must still be able to read those events. A
change is breaking when an event valid under the old schema could fail, or mean something
else, under the new one: a field removed or retyped, or a field newly required.
"""

from __future__ import annotations

import copy
from typing import Any

from catalog import CATALOG, EventType, envelope_model

DRAFT_4 = "http://json-schema.org/draft-04/schema#"


def schema_of(event_type: EventType) -> dict[str, Any]:
    """The envelope schema of an event type at its current version, as JSON Schema draft 4
    (what the EventBridge schema registry takes)."""
    spec = CATALOG[event_type]
    schema = envelope_model(event_type).model_json_schema(ref_template="#/definitions/{model}")
    schema = _draft4(schema)
    if "$defs" in schema:
        schema["definitions"] = schema.pop("$defs")
    return {
        "$schema": DRAFT_4,
        "title": f"{event_type.value} v{spec.version}",
        "description": spec.description,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _draft4(node: Any) -> Any:
    """Draft 2020-12 (pydantic) to draft 4: numeric exclusive bounds become boolean flags."""
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _draft4(value) for key, value in node.items()}
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), (int, float)) and not isinstance(node.get(bound), bool):
            node[flag] = node.pop(bound)
            node[bound] = True
    return node


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How a reader of `new` could fail on an event written under `old` (empty: compatible)."""
    return _compare(_resolve(old, old), _resolve(new, new), "event")


def _resolve(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_resolve(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return _resolve(copy.deepcopy(root["definitions"][name]), root)
    return {key: _resolve(value, root) for key, value in node.items() if key != "definitions"}


def _types(node: dict[str, Any]) -> frozenset[str]:
    if "anyOf" in node:
        return frozenset(t for option in node["anyOf"] for t in _types(option))
    declared = node.get("type")
    if declared is None:
        return frozenset({"object"} if "properties" in node else {"any"})
    return frozenset([declared] if isinstance(declared, str) else declared)


def _compare(old: dict[str, Any], new: dict[str, Any], path: str) -> list[str]:
    problems: list[str] = []
    if _types(old) != _types(new) and "any" not in _types(new):
        return [f"{path} retyped from {sorted(_types(old))} to {sorted(_types(new))}"]
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name} removed")
        else:
            problems += _compare(old_prop, new_props[name], f"{path}.{name}")
    for name in sorted(set(new.get("required", [])) - set(old.get("required", []))):
        problems.append(f"{path}.{name} is newly required")
    if "items" in old and "items" in new:
        problems += _compare(old["items"], new["items"], f"{path}[]")
    return problems
