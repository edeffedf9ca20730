"""make mutate's report: each mutant counted under its module, scored as killed over judged."""

from scripts.mutate import _module_of, outcomes, score, table


def test_each_mutant_falls_under_the_module_it_mutates():
    assert _module_of("eventstore.store.xǁEventStoreǁappend") == "eventstore"
    assert _module_of("orders.aggregate.xǁOrderǁapply") == "orders/aggregate.py"
    assert _module_of("ops.redrive.x_classify") == "ops/redrive.py"
    assert _module_of("publisher.handler.x_park") == "publisher"
    assert _module_of("projection.projector.xǁOrderProjectorǁapply") == "projection"
    assert _module_of("orders.read_model.xǁOrdersReadModelǁget") == "orders/read_model.py"


def test_the_score_counts_untested_mutants_against_the_module():
    assert score({"killed": 80, "timeout": 5, "survived": 10, "no tests": 5}) == 85.0
    assert score({"killed": 3, "skipped": 7}) == 100.0
    assert score({}) is None


def test_the_table_shows_every_module_with_its_counts():
    report = {
        "seconds": 600,
        "commit": "abc1234",
        "modules": {"eventstore": {"counts": {"killed": 9, "survived": 1}, "score": 90.0}},
    }
    text = table(report)
    assert "| `eventstore` | 10 | 9 | 1 | 0 | **90.0%** |" in text and "10 min" in text and "abc1234" in text


def test_verdicts_are_counted_under_their_modules():
    found = {
        "eventstore.store.x_a__mutmut_1": "killed",
        "eventstore.store.x_a__mutmut_2": "survived",
        "ops.redrive.x_main__mutmut_7": "no tests",
    }
    counts = outcomes(found)
    assert counts["eventstore"] == {"killed": 1, "survived": 1} and counts["ops/redrive.py"] == {"no tests": 1}
    assert counts["publisher"] == {}
