"""Writes events/*.json (AWS CLI put-events input) from the catalog's examples; --check
fails when a committed file differs from what the examples produce."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT)]

from catalog import CATALOG, EventType  # noqa: E402
from catalog.examples import EXAMPLES, malformed_examples, put_events_entries, rule_target_event  # noqa: E402
from infra.names import bus_name  # noqa: E402

EVENTS_DIR = ROOT / "events"
BUS = bus_name("dev")


def rendered() -> dict[Path, str]:
    files = {name: put_events_entries(event, BUS) for name, event in EXAMPLES.items()}
    for name, detail in malformed_examples().items():
        event_type = EventType(detail["eventType"])
        files[name] = [{"EventBusName": BUS, "Source": CATALOG[event_type].source.value,
                        "DetailType": event_type.value, "Detail": json.dumps(detail, separators=(",", ":"))}]
    rendered = {EVENTS_DIR / f"{name}.json": entries for name, entries in files.items()}
    # The same events as a Lambda rule target receives them, for `aws lambda invoke --payload`.
    rendered |= {EVENTS_DIR / "lambda" / f"{name}.json": rule_target_event(entries[0]) for name, entries in files.items()}
    return {path: json.dumps(content, indent=2) + "\n" for path, content in rendered.items()}


def main(check: bool) -> int:
    stale = []
    for path, text in rendered().items():
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale sample events: {', '.join(stale)}; run `make events`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(check="--check" in sys.argv))
