"""Handler tests run against moto: real boto3 calls, in-process AWS."""

from __future__ import annotations

import pytest
from moto import mock_aws

from tests.support import aws


@pytest.fixture
def tables(monkeypatch):
    monkeypatch.setenv("EVENT_STORE_TABLE_NAME", aws.EVENT_STORE)
    monkeypatch.setenv("ORDERS_TABLE_NAME", aws.ORDERS)
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", aws.IDEMPOTENCY)
    monkeypatch.setenv("EVENT_BUS_NAME", "test-bus")
    with mock_aws():
        aws.create_tables()
        yield
    _forget_cached_clients()


def _forget_cached_clients() -> None:
    """Handlers build their clients once per container; each test is a new container."""
    from orders import api
    from projection import handler as projection
    from publisher import handler as publisher

    for cached in (api.store, api.orders, api.read_model, api.idempotency_config, api.place_once,
                   projection.projector, publisher.publisher):
        cached.cache_clear()


@pytest.fixture
def store(tables):
    from eventstore.store import EventStore

    return EventStore(aws.EVENT_STORE)
