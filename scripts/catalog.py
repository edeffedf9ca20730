"""Generates everything the event catalog implies, from the code:

  schemas/<TYPE>/v<N>.json   the JSON Schema of each event type's current version
  events/<name>.json         put-events entries for the dev bus, one per example
  events/lambda/<name>.json  the same events as a Lambda rule target receives them
  docs/EVENTS.md             the catalog: schema, example, producer, rules and consumers of
                             each type, and a diagram of producers -> bus -> consumers built
                             from the synthesized rules
  docs/asyncapi.json         the same as an AsyncAPI 3 document (the bus, every event type and
                             its schema, who publishes it and who receives it), which tools such
                             as EventCatalog read; `make test` validates it with the AsyncAPI CLI

    python -m scripts.catalog           # write (refuses a breaking schema change, see below)
    python -m scripts.catalog --check   # fail if anything committed is stale or incompatible

A schema version, once committed, is history: the current model must still read events
written under it. A breaking change (catalog/schemas.py) must raise the event type's version
in the catalog and add an upcaster from the previous version (catalog/upcasting.py).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

import infra  # noqa: F401  (quiets jsii before the CDK loads)
from catalog import CATALOG, EventType
from catalog.examples import EXAMPLES, malformed_examples, put_events_entries, rule_target_event
from catalog.schemas import breaking_changes, envelope_model, schema_of
from catalog.upcasting import UPCASTERS
from infra.names import bus_name

SCHEMAS, EVENTS, DOCS = ROOT / "schemas", ROOT / "events", ROOT / "docs"
BUS = bus_name("dev")


def _json(content) -> str:
    return json.dumps(content, indent=2) + "\n"


# ---- schemas ----------------------------------------------------------------------------------


def committed_versions(event_type: EventType) -> dict[int, dict]:
    folder = SCHEMAS / event_type.value
    files = folder.glob("v*.json") if folder.exists() else []
    return {int(f.stem[1:]): json.loads(f.read_text()) for f in files}


def schema_problems(event_type: EventType) -> list[str]:
    """What stops the current model from being published as its catalog version."""
    current, versions = CATALOG[event_type].version, committed_versions(event_type)
    if not versions:
        return []
    latest = max(versions)
    if current < latest:
        return [f"{event_type} is at v{current} in the catalog, but v{latest} was published"]
    if current == latest:
        changes = breaking_changes(versions[latest], schema_of(event_type))
        return (
            [
                f"{event_type} v{current}: {'; '.join(changes)} -- a breaking change: raise its version in the "
                f"catalog and add an upcaster from v{current}"
            ]
            if changes
            else []
        )
    return [
        f"{event_type}: no upcaster from v{v} to v{v + 1}"
        for v in range(latest, current)
        if (event_type.value, v) not in UPCASTERS
    ]


def schema_files() -> dict[Path, str]:
    return {SCHEMAS / t.value / f"v{CATALOG[t].version}.json": _json(schema_of(t)) for t in EventType}


# ---- sample events ----------------------------------------------------------------------------


def event_files() -> dict[Path, str]:
    entries = {name: put_events_entries(event, BUS) for name, event in EXAMPLES.items()}
    for name, detail in malformed_examples().items():
        event_type = EventType(detail["eventType"])
        entries[name] = [
            {
                "EventBusName": BUS,
                "Source": CATALOG[event_type].source.value,
                "DetailType": event_type.value,
                "Detail": json.dumps(detail, separators=(",", ":")),
            }
        ]
    files = {EVENTS / f"{name}.json": _json(e) for name, e in entries.items()}
    files |= {EVENTS / "lambda" / f"{name}.json": _json(rule_target_event(e[0])) for name, e in entries.items()}
    return files


# ---- the catalog page -------------------------------------------------------------------------


def routes(template: dict) -> dict[str, list[tuple[str, str]]]:
    """event type -> [(rule, consumer)], read from the synthesized rules and their targets."""
    resources = template["Resources"]
    found: dict[str, list[tuple[str, str]]] = {}
    for rule in resources.values():
        props = rule.get("Properties", {})
        if rule["Type"] != "AWS::Events::Rule" or "EventPattern" not in props:
            continue
        rule_path = rule["Metadata"]["aws:cdk:path"].split("/", 1)[1].removesuffix("/Resource")
        for target in props["Targets"]:
            function = resources[target["Arn"]["Fn::GetAtt"][0]]
            consumer = function["Metadata"]["aws:cdk:path"].split("/")[1]
            pattern = props["EventPattern"]
            # a catch-all rule (sources only) routes every catalog type its sources publish
            types = pattern.get("detail-type") or [
                t.value for t in EventType if CATALOG[t].source.value in pattern["source"]
            ]
            for event_type in types:
                found.setdefault(event_type, []).append((rule_path, consumer))
    return found


def synthesized_routes() -> dict[str, list[tuple[str, str]]]:
    from scripts.gates import synth

    services = next(t for t in synth(stages=("dev",)) if t.name.endswith("-Services.template.json"))
    return routes(json.loads(services.read_text()))


def catalog_page(routing: dict[str, list[tuple[str, str]]]) -> str:
    lines = [
        "# Event catalog",
        "",
        "Generated by `make catalog` from `lambdas/catalog/` and the synthesized rules; do not edit by hand.",
        "Every event travels in the envelope `{eventId, eventType, timestamp, aggregateId, payload,",
        "metadata{userId, correlationId, causationId, version, schemaVersion}}`; on the bus, `Source` is the",
        "producer and `DetailType` the event type.",
        "",
        "```mermaid",
        "flowchart LR",
    ]
    producers = sorted({spec.source.value for spec in CATALOG.values()})
    consumers = sorted({consumer for targets in routing.values() for _, consumer in targets})
    lines += [f"    {_node(p)}[{p}]" for p in producers]
    lines += ["    bus{{EventBridge bus}}"]
    lines += [f"    {_node(c)}([{c}])" for c in consumers]
    for producer in producers:
        types = [t.value for t, spec in CATALOG.items() if spec.source.value == producer]
        lines.append(f'    {_node(producer)} -- "{len(types)} event types" --> bus')
    for consumer in consumers:
        types = sorted(t for t, targets in routing.items() if any(c == consumer for _, c in targets))
        label = ", ".join(types) if len(types) <= 3 else f"{len(types)} event types"
        lines.append(f'    bus -- "{label}" --> {_node(consumer)}')
    lines += ["```", "", "| event | producer | schema | consumers |", "| --- | --- | --- | --- |"]
    for event_type, spec in CATALOG.items():
        consumed_by = ", ".join(sorted({c for _, c in routing.get(event_type.value, [])})) or "(none yet)"
        lines.append(
            f"| [{event_type.value}](#{event_type.value.lower()}) | `{spec.source.value}` | "
            f"[v{spec.version}](../schemas/{event_type.value}/v{spec.version}.json) | {consumed_by} |"
        )
    for event_type, spec in CATALOG.items():
        name, example = next((n, e) for n, e in EXAMPLES.items() if e.eventType == event_type)
        versions = sorted(set(committed_versions(event_type)) | {spec.version})
        lines += [
            "",
            f"## {event_type.value}",
            "",
            spec.description,
            "",
            f"- producer: `{spec.source.value}`",
            f"- schema: v{spec.version} ("
            + ", ".join(f"[v{v}](../schemas/{event_type.value}/v{v}.json)" for v in versions)
            + ")",
        ]
        upcasters = [f"v{v} -> v{v + 1}" for (t, v) in sorted(UPCASTERS) if t == event_type.value]
        if upcasters:
            lines.append(f"- read through upcasters: {', '.join(upcasters)} (`lambdas/catalog/upcasting.py`)")
        for rule, consumer in routing.get(event_type.value, []):
            lines.append(f"- routed by rule `{rule}` to `{consumer}`")
        lines += [
            f"- sample: [`events/{name}.json`](../events/{name}.json)",
            "",
            "```json",
            json.dumps(example.to_detail(), indent=2),
            "```",
        ]
    return "\n".join(lines) + "\n"


def _node(name: str) -> str:
    return re.sub(r"\W", "_", name)


# ---- the AsyncAPI document --------------------------------------------------------------------

ASYNCAPI_VERSION = "3.1.0"


def asyncapi_document(routing: dict[str, list[tuple[str, str]]]) -> dict:
    """The bus as one channel carrying every event type; an operation for each producer (send)
    and each consumer (receive), with the types it publishes or its rules route to it. Schemas
    are the envelopes' current versions (draft 7 semantics, AsyncAPI's own), shared parts once."""
    schemas: dict[str, dict] = {}
    messages: dict[str, dict] = {}
    for event_type, spec in CATALOG.items():
        schema = envelope_model(event_type).model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            if schemas.setdefault(name, definition) != definition:
                raise ValueError(f"two event types define a different {name}: rename one model")
        schemas[event_type.value] = {
            **schema,
            "title": f"{event_type.value} v{spec.version}",
            "description": spec.description,
        }
        examples = [
            {"name": name, "payload": example.to_detail()}
            for name, example in EXAMPLES.items()
            if example.eventType == event_type
        ]
        messages[event_type.value] = {
            "name": event_type.value,
            "title": event_type.value.replace("_", " ").capitalize(),
            "summary": spec.description,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{event_type.value}"},
            "x-eventbridge": {
                "source": spec.source.value,
                "detail-type": event_type.value,
                "schemaVersion": spec.version,
            },
            "examples": examples,
        }
    channel_messages = {t: {"$ref": f"#/components/messages/{t}"} for t in messages}

    def refs(types) -> list[dict]:
        return [{"$ref": f"#/channels/bus/messages/{t}"} for t in sorted(types)]

    operations: dict[str, dict] = {}
    for producer in sorted({spec.source.value for spec in CATALOG.values()}):
        operations[f"publish-{producer.replace('.', '-')}"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/bus"},
            "summary": f"{producer} publishes its events: stored in the event store, put on the bus by the outbox",
            "messages": refs(t.value for t, spec in CATALOG.items() if spec.source.value == producer),
        }
    for consumer in sorted({c for targets in routing.values() for _, c in targets}):
        routed = {t for t, targets in routing.items() if any(c == consumer for _, c in targets)}
        rules = sorted({rule for t in routed for rule, c in routing[t] if c == consumer})
        operations[f"receive-{consumer}"] = {
            "action": "receive",
            "channel": {"$ref": "#/channels/bus"},
            "summary": f"{consumer} receives what its rules route to it ({', '.join(f'`{r}`' for r in rules)})",
            "messages": refs(routed),
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Order platform events",
            "version": "1.0.0",
            "description": "Generated by `make catalog` from `lambdas/catalog/` and the synthesized rules; do "
            "not edit by hand. Each event is an EventBridge entry: `Source` its producer, "
            "`DetailType` its type, `Detail` the envelope below (docs/EVENTS.md).",
        },
        "defaultContentType": "application/json",
        "channels": {
            "bus": {
                "address": "order-platform-{stage}",
                "title": "The platform's EventBridge bus",
                "description": "A custom event bus, one a stage; rules route each event type to its consumers.",
                "parameters": {"stage": {"enum": ["dev", "prod"], "description": "the deployed stage"}},
                "messages": channel_messages,
            }
        },
        "operations": operations,
        "components": {"schemas": dict(sorted(schemas.items())), "messages": messages},
    }


# ---- main -------------------------------------------------------------------------------------


def generated() -> dict[Path, str]:
    routing = synthesized_routes()
    return {
        **schema_files(),
        **event_files(),
        DOCS / "EVENTS.md": catalog_page(routing),
        DOCS / "asyncapi.json": _json(asyncapi_document(routing)),
    }


def main(check: bool) -> int:
    problems = [p for t in EventType for p in schema_problems(t)]
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    stale = []
    for path, text in generated().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run `make catalog`", file=sys.stderr)
        return 1
    print("catalog is current" if check else "wrote schemas/, events/, docs/EVENTS.md and docs/asyncapi.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
