"""Lambda: every event the event store holds counted once, as a marker that the fold
(analytics/fold.py) adds to the per-day counters and the metrics from the markers' stream.

The figures are the books': only the platform's own events count, the event store's copy of
each (a forged one fails, and is parked with the reason, as by every consumer that acts on the
store's events); a change or a cancellation is counted with the order as it was before it, read
from the store: what the change added to the order's total, what the cancellation took off.
"""

from functools import cache

from analytics.counters import NEEDS_THE_ORDER_BEFORE, DailyCounters
from catalog import Envelope
from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadTable, WriteTable
from eventstore.store import EventStore
from orders.aggregate import Order


class Settings(FunctionSettings):
    analytics_events_table_name: WriteTable
    event_store_table_name: ReadTable


@cache
def counters() -> DailyCounters:
    return DailyCounters(markers_table=Settings.current().analytics_events_table_name)


@cache
def event_store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


def count(delivered: Envelope) -> dict:
    # An eventually consistent read (half a strong one's price): the event was written before the
    # stream published it, and a copy not yet found is read again strongly.
    event = event_store().held(delivered, consistent=False)
    before = None
    if event.eventType in NEEDS_THE_ORDER_BEFORE:
        before = Order.replay(event_store().load(event.aggregateId, up_to_version=event.version - 1))
    return counters().record(event, before)


# Exactly once by the marker's condition.
handler = EventConsumer(count).handler
