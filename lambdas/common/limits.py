"""The size limits an event meets on its way, and how each is counted. Plain Python on purpose:
the publisher needs them on every cold start and must not pay for the event models it never
parses.

- EventBridge takes a PutEvents request of at most 1 MB of entries (since 2026-01-29; 256 KB
  before), each counted as Source + DetailType + Detail + each of Resources in UTF-8 bytes, and
  Time as 14 bytes; it bills each 64 KB chunk of an entry as one event.
- DynamoDB holds an item of at most 400 KB (its attribute names and values in UTF-8): the event
  store's item, the event with what is searched beside it, is the tighter limit, so the store
  refuses an event over it (eventstore/store.py) and nothing is stored that the bus would refuse.
"""

from collections.abc import Iterable, Mapping
from typing import Any

MAX_ENTRY_BYTES = 1024 * 1024  # a PutEvents request's entries, in all
EVENTBRIDGE_CHUNK_BYTES = 64 * 1024  # each chunk of an entry is billed as one event
MAX_ITEM_BYTES = 400 * 1024  # a DynamoDB item


def entry_size(source: str, detail_type: str, detail: str, resources: Iterable[str] = (), *, time: bool = True) -> int:
    """Size of a PutEvents entry as EventBridge counts it (Time, when set, counts as 14 bytes)."""
    size = len(source.encode()) + len(detail_type.encode()) + len(detail.encode())
    return size + sum(len(resource.encode()) for resource in resources) + (14 if time else 0)


def request_entry_size(entry: Mapping[str, Any]) -> int:
    """The size of an entry of a PutEvents request, as sent (its fields may be missing or not
    strings: those count nothing)."""

    def text(name: str) -> str:
        value = entry.get(name)
        return value if isinstance(value, str) else ""

    resources = [r for r in entry.get("Resources") or [] if isinstance(r, str)]
    return entry_size(text("Source"), text("DetailType"), text("Detail"), resources, time=bool(entry.get("Time")))


def billed_events(size: int) -> int:
    """How many events EventBridge bills an entry of this size as: one a 64 KB chunk."""
    return max(1, -(-size // EVENTBRIDGE_CHUNK_BYTES))


def item_size(item: Mapping[str, Mapping[str, str]]) -> int:
    """A DynamoDB item's size, for string and number attributes: each name's and value's UTF-8
    bytes (a number counts at most 21 bytes, DynamoDB's own upper bound for it)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += min(21, len(value["N"]) // 2 + 2)
    return size
