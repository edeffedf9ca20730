"""`make quick` picks the fast tests a change can break, from the imports (scripts/quick.py)."""

from __future__ import annotations

from scripts.quick import package_dependents, selected


def test_a_change_to_one_handler_picks_its_tests_and_not_the_others():
    tests, slow = selected(["lambdas/orders/api.py"])
    assert "tests/handlers/test_orders_api.py" in tests
    assert "tests/handlers/test_publisher.py" not in tests and "tests/handlers/test_users_api.py" not in tests
    assert slow == ["tests/e2e", "tests/chaos"] or set(slow) >= {"tests/e2e", "tests/chaos"}


def test_a_change_to_a_package_others_import_picks_their_tests_too():
    assert "orders" in package_dependents()["eventstore"]
    tests, _ = selected(["lambdas/eventstore/store.py"])
    assert {"tests/handlers/test_event_store.py", "tests/handlers/test_orders_api.py"} <= set(tests)


def test_a_changed_test_or_fixture_file_picks_itself_or_its_folder():
    assert selected(["tests/unit/test_catalog.py"])[0] == ["tests/unit/test_catalog.py"]
    tests, _ = selected(["tests/handlers/conftest.py"])
    assert "tests/handlers/test_publisher.py" in tests and "tests/handlers/test_saga.py" in tests
    assert not any(t.startswith("tests/unit/") for t in tests)


def test_a_change_to_a_tool_picks_the_tests_that_import_it():
    tests, slow = selected(["localcloud/fixes/eventbridge.py"])
    assert "tests/unit/test_local_cloud_fixes.py" in tests and "tests/handlers/test_orders_api.py" not in tests
    assert "tests/e2e" in slow


def test_nothing_changed_picks_nothing():
    assert selected(["README.md"]) == ([], [])
