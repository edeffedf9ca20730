"""Turn the sample files into the event a function receives."""

from __future__ import annotations

import json
from pathlib import Path

from catalog.examples import rule_target_event


def lambda_event_from_file(path: Path) -> dict:
    """A put-events entries file (events/*.json) becomes the event its rule target receives;
    anything else is taken as the Lambda event itself."""
    data = json.loads(path.read_text())
    if isinstance(data, list) and data and isinstance(data[0], dict) and "DetailType" in data[0]:
        return rule_target_event(data[0])
    return data


def stored_event(item: dict) -> dict:
    """An event store item (as DynamoDB's low-level API returns it) as its rule target receives it."""
    return rule_target_event(
        {"Source": item["source"]["S"], "DetailType": item["eventType"]["S"], "Detail": item["detail"]["S"]}
    )
