"""A function's settings are read and validated on its first event, and a missing or malformed
one is named."""

import pytest

from common.settings import MissingSetting
from payments.handler import Settings as PaymentSettings
from saga.sweep import Settings as SweepSettings


def test_every_missing_variable_is_named():
    with pytest.raises(MissingSetting) as error:
        SweepSettings.from_environment({"ORDERS_TABLE_NAME": "orders"})
    assert "EVENT_STORE_TABLE_NAME" in str(error.value) and "SAGA_TIMEOUT_SECONDS" in str(error.value)
    assert "ORDERS_TABLE_NAME" not in str(error.value)


def test_a_malformed_value_is_named_with_what_is_wrong():
    with pytest.raises(MissingSetting, match="SAGA_TIMEOUT_SECONDS: .*integer"):
        SweepSettings.from_environment({"ORDERS_TABLE_NAME": "o", "EVENT_STORE_TABLE_NAME": "e",
                                        "SAGA_TIMEOUT_SECONDS": "five minutes"})


def test_values_are_typed_and_a_default_holds_where_the_stacks_set_nothing():
    settings = PaymentSettings.from_environment({"EVENT_STORE_TABLE_NAME": "store"})
    assert settings.event_store_table_name == "store" and str(settings.payment_limit) == "1000.00"
    assert PaymentSettings.from_environment({"EVENT_STORE_TABLE_NAME": "s", "PAYMENT_LIMIT": "5"}).payment_limit == 5
    sweep = SweepSettings.from_environment({"ORDERS_TABLE_NAME": "o", "EVENT_STORE_TABLE_NAME": "e",
                                            "SAGA_TIMEOUT_SECONDS": "300"})
    assert sweep.saga_timeout_seconds == 300


def test_a_field_is_its_variable_upper_cased_and_nothing_else_is_one():
    assert SweepSettings.variable("saga_timeout_seconds") == "SAGA_TIMEOUT_SECONDS"
    with pytest.raises(KeyError):
        SweepSettings.variable("no_such_setting")
