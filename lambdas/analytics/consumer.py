"""Lambda: every event counted once, as a marker that the fold (analytics/fold.py) adds to the
per-day counters and the metrics from the markers' stream."""

from functools import cache

from analytics.counters import DailyCounters
from catalog import Envelope
from common.consumer import EventConsumer
from common.settings import FunctionSettings, WriteTable


class Settings(FunctionSettings):
    analytics_events_table_name: WriteTable


@cache
def counters() -> DailyCounters:
    return DailyCounters(markers_table=Settings.current().analytics_events_table_name)


def count(event: Envelope) -> dict:
    return counters().record(event)


# Exactly once by the marker's condition.
handler = EventConsumer(count).handler
