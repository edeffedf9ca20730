"""bench.startup's comparison of two checkouts: each figure beside its ratio."""

from bench.startup import compare


def figures(answer: float, cpu: float) -> dict:
    return {
        "baselineMs": 100.0,
        "cold": {"Publisher": {"firstAnswerMs": answer, "importMs": 1.0, "calls": 1}},
        "warm": {"Audit": {"cpuMsPerEvent": cpu, "awsCallsPerEvent": 1.0}},
    }


def test_each_function_is_shown_before_and_after_with_the_ratio():
    table = compare(figures(200.0, 2.0), figures(250.0, 1.0))
    assert "| Publisher | 200.0 | 250.0 | 1.25 | 1/1 |" in table
    assert "| Audit | 2.0 | 1.0 | 0.50 | 1.0/1.0 |" in table
    assert "median first-answer ratio 1.25" in table
