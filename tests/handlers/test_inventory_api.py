"""The inventory API: setting stock writes the stock record and INVENTORY_ADJUSTED together."""

from __future__ import annotations

import pytest

from tests.support import aws
from tests.support.api import call


@pytest.fixture
def api(tables, lambda_context):
    from inventory.api import handler

    # a staff route: its caller is an IAM principal, with no customer's claims
    return lambda method, path, **kw: call(handler, lambda_context, method, path, **{"customer": None, **kw})


def test_setting_stock_records_it_and_its_event(api, store):
    assert api("PUT", "/inventory/SKU-1", body={"quantity": 12}).status == 200
    response = api("PUT", "/inventory/SKU-1", body={"quantity": 7})
    assert response.body == {"productId": "SKU-1", "available": 7, "version": 2}

    stock = api("GET", "/inventory/SKU-1").body
    assert (stock["available"], stock["reserved"], stock["version"]) == (7, 0, 2)
    assert [(e.eventType, e.payload.quantity) for e in store.load("product:SKU-1")] == [
        ("INVENTORY_ADJUSTED", 12), ("INVENTORY_ADJUSTED", 7)]


@pytest.mark.parametrize("quantity", [-1, 1.5, "7", None])
def test_stock_must_be_a_non_negative_integer(api, quantity):
    response = api("PUT", "/inventory/SKU-1", body={"quantity": quantity})
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "quantity"
    assert aws.item_count(aws.INVENTORY) == aws.item_count(aws.EVENT_STORE) == 0


def test_a_stock_write_that_loses_a_race_writes_neither_record_nor_event(tables, store):
    from catalog import Caller
    from eventstore.store import GuardFailed
    from inventory.stock import Stock

    stock = Stock(store, aws.INVENTORY)
    caller = Caller("u", "c")
    stock.set("SKU-1", 5, caller=caller)
    # the stock record moved to version 2 behind the event store's back: the guard must fail
    import boto3

    boto3.client("dynamodb").update_item(TableName=aws.INVENTORY, Key={"productId": {"S": "SKU-1"}},
                                         UpdateExpression="SET version = :v", ExpressionAttributeValues={":v": {"N": "2"}})
    write = stock._write("SKU-1", 9, previous_version=1)
    from catalog import EventType, new_event
    from catalog.payloads import InventoryAdjusted

    event = new_event(EventType.INVENTORY_ADJUSTED, aggregate_id="product:SKU-1",
                      payload=InventoryAdjusted(productId="SKU-1", quantity=9), version=2, user_id="u", correlation_id="c")
    with pytest.raises(GuardFailed):
        store.append([event], guards=[write])
    assert len(store.load("product:SKU-1")) == 1
    assert stock.get("SKU-1")["available"] == 5


def test_unknown_products_are_404_and_bad_ids_400(api):
    assert api("GET", "/inventory/SKU-404").status == 404
    assert api("GET", "/inventory/..%2F..%2Fetc").status == 400


def test_a_product_id_is_set_up_to_its_length_and_refused_past_it_naming_the_field(api, store):
    """Its stream, `product:<id>`, must hold the longest id the door lets in (a 60-character id
    was a 500 once: the door took it, the event could not)."""
    from catalog.types import CALLER_ID_LENGTH

    longest = "P" * CALLER_ID_LENGTH
    assert api("PUT", f"/inventory/{longest}", body={"quantity": 1}).status == 200
    assert [e.eventType for e in store.load(f"product:{longest}")] == ["INVENTORY_ADJUSTED"]
    for too_long in (longest + "P", "P" * 64):
        response = api("PUT", f"/inventory/{too_long}", body={"quantity": 1})
        assert (response.status, response.body["errors"][0]["field"]) == (400, "productId"), response
    assert aws.item_count(aws.INVENTORY) == 1
