"""The chaos audit's counter check across midnight UTC (chaos/world.py): a scope's events are
counted in the day of each, so what the scope moved is every day's counters since it started,
less its first day's before it. Reading only today's counters, a 1,000-order run that went past
midnight found 10,241 events "lost" and money moved backwards."""

from __future__ import annotations

from types import SimpleNamespace

from chaos import world

DAYS = {
    "2026-12-06": {"events": 5000, "byCurrency": {"EUR": {"booked": "100.00", "captured": "90.00"}}},
    "2026-12-07": {"events": 1200, "byCurrency": {"EUR": {"booked": "20.00", "captured": "25.50"}}},
}


def test_a_scope_past_midnight_is_counted_on_both_days(monkeypatch):
    before = {"events": 4000, "byCurrency": {"EUR": {"booked": "80.00", "captured": "70.00"}}}
    monkeypatch.setattr(world, "today", lambda: "2026-12-07")
    counters_of = lambda day: DAYS.get(day, {})  # noqa: E731
    since = world.World.counters_since(SimpleNamespace(counters_of=counters_of), "2026-12-06")  # type: ignore[arg-type]
    assert since["events"] - before["events"] == 1000 + 1200
    assert since["byCurrency"] == {"EUR": {"booked": "120.00", "captured": "115.50"}}


def test_a_scope_within_one_day_reads_that_day_alone():
    assert world.added_up(lambda day: DAYS.get(day, {}), "2026-12-06", "2026-12-06") == DAYS["2026-12-06"]
    assert world.added_up(lambda day: {}, "2026-12-06", "2026-12-08") == {"events": 0, "byCurrency": {}}
