"""A function's settings are read and validated on its first event, and a missing or malformed
one is named."""

import pytest

from common.settings import MissingSetting
from payments.handler import Settings as PaymentSettings
from saga.sweep import Settings as SweepSettings

ORDERS, STORE, TIMEOUT = (SweepSettings.variable(field) for field in SweepSettings.fields())


def test_every_missing_variable_is_named():
    with pytest.raises(MissingSetting) as error:
        SweepSettings.from_environment({ORDERS: "orders"})
    assert STORE in str(error.value) and TIMEOUT in str(error.value)
    assert ORDERS not in str(error.value)


def test_a_malformed_value_is_named_with_what_is_wrong():
    with pytest.raises(MissingSetting, match=f"{TIMEOUT}: .*integer"):
        SweepSettings.from_environment({ORDERS: "o", STORE: "e", TIMEOUT: "five minutes"})


def test_values_are_typed_and_a_default_holds_where_the_stacks_set_nothing():
    store, calls, network, limit = (
        PaymentSettings.variable(field)
        for field in ("event_store_table_name", "payment_calls_table_name", "card_network_table_name", "payment_limit")
    )
    tables = {calls: "calls", network: "network"}
    settings = PaymentSettings.from_environment({store: "store", **tables})
    assert settings.event_store_table_name == "store" and str(settings.payment_limit) == "1000.00"
    assert settings.card_network_key_seconds == 24 * 3600
    assert PaymentSettings.from_environment({store: "s", **tables, limit: "5"}).payment_limit == 5
    assert SweepSettings.from_environment({ORDERS: "o", STORE: "e", TIMEOUT: "300"}).saga_timeout_seconds == 300


def test_a_field_is_its_variable_upper_cased_and_nothing_else_is_one():
    assert SweepSettings.variable("saga_timeout_seconds") == "saga_timeout_seconds".upper()
    with pytest.raises(KeyError):
        SweepSettings.variable("no_such_setting")
