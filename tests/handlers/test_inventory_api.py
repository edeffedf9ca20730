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
    assert response.body == {"productId": "SKU-1", "onHand": 7, "available": 7, "reserved": 0, "version": 2}

    stock = api("GET", "/inventory/SKU-1").body
    assert (stock["available"], stock["reserved"], stock["version"]) == (7, 0, 2)
    assert [(e.eventType, e.payload.onHand, e.payload.available) for e in store.load("product:SKU-1")] == [
        ("INVENTORY_ADJUSTED", 12, 12),
        ("INVENTORY_ADJUSTED", 7, 7),
    ]


@pytest.mark.parametrize("quantity", [-1, 1.5, "7", None])
def test_stock_must_be_a_non_negative_integer(api, quantity):
    response = api("PUT", "/inventory/SKU-1", body={"quantity": quantity})
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "quantity"
    assert aws.item_count(aws.INVENTORY) == aws.item_count(aws.EVENT_STORE) == 0


def test_a_stock_write_that_loses_a_race_writes_neither_record_nor_event(tables, store, monkeypatch):
    import boto3

    from catalog import Caller
    from inventory.stock import Stock, StockContention

    stock = Stock(store, aws.INVENTORY)
    caller = Caller("u", "c")
    stock.set("SKU-1", 5, caller=caller)
    read = stock.get("SKU-1")
    # the stock record moved to version 2 behind the event store's back, after every read: the
    # record's condition fails each time, and neither it nor the event is written
    boto3.client("dynamodb").update_item(
        TableName=aws.INVENTORY,
        Key={"productId": {"S": "SKU-1"}},
        UpdateExpression="SET version = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    monkeypatch.setattr(stock, "get", lambda product_id: read)
    with pytest.raises(StockContention):
        stock.set("SKU-1", 9, caller=caller)
    monkeypatch.undo()
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


def test_staff_set_a_products_prices_with_its_event_and_its_stock_is_kept(api, store):
    assert api("PUT", "/inventory/SKU-1", body={"quantity": 12}).status == 200
    priced = api("PUT", "/inventory/SKU-1/prices", body={"prices": {"EUR": "12.50", "USD": "13.9"}})
    assert priced.status == 200, priced.body
    assert priced.body == {"productId": "SKU-1", "prices": {"EUR": "12.50", "USD": "13.90"}, "version": 2}
    # a new list replaces the old: a currency it no longer names, the product is not sold in
    api("PUT", "/inventory/SKU-1/prices", body={"prices": {"EUR": "14.00"}})
    api("PUT", "/inventory/SKU-1", body={"quantity": 10})

    record = api("GET", "/inventory/SKU-1").body
    assert (record["available"], record["prices"], record["version"]) == (10, {"EUR": "14.00"}, 4)
    assert [e.eventType for e in store.load("product:SKU-1")] == [
        "INVENTORY_ADJUSTED",
        "PRODUCT_PRICED",
        "PRODUCT_PRICED",
        "INVENTORY_ADJUSTED",
    ]


def test_a_product_priced_before_it_is_stocked_has_none_available(api):
    assert api("PUT", "/inventory/SKU-NEW/prices", body={"prices": {"GBP": "3.00"}}).status == 200
    record = api("GET", "/inventory/SKU-NEW").body
    assert (record["available"], record["reserved"], record["prices"]) == (0, 0, {"GBP": "3.00"})


@pytest.mark.parametrize(
    ("prices", "field"),
    [
        ({}, "prices"),
        ({"EUR": "-1.00"}, "prices.EUR"),
        ({"EUR": "1.001"}, "prices.EUR"),
        ({"XXX": "1.00"}, "prices.XXX"),  # an ISO code, but not one the card network takes
        ({"eur": "1.00"}, "prices.eur"),
    ],
)
def test_a_price_list_is_currencies_the_platform_sells_in_with_exact_amounts(api, prices, field):
    response = api("PUT", "/inventory/SKU-1/prices", body={"prices": prices})
    assert response.status == 400, response.body
    assert any(e["field"].startswith(field) for e in response.body["errors"]), response.body
    assert aws.item_count(aws.INVENTORY) == aws.item_count(aws.EVENT_STORE) == 0


# ---- a count is of the units on hand: reservations stay reserved --------------------------------


def reserve(store, order_id: str, quantity: int, product: str = "SKU-1"):
    """The saga's request to reserve, as InventoryReservations answers it."""
    from catalog import EventType, new_event
    from catalog.payloads import InventoryReservationRequested, ReservedLine
    from inventory.reservations import Reservations

    request = new_event(
        EventType.INVENTORY_RESERVATION_REQUESTED,
        aggregate_id=f"saga:{order_id}",
        payload=InventoryReservationRequested(
            orderId=order_id, lines=(ReservedLine(productId=product, quantity=quantity),)
        ),
        version=2,
        user_id="order-saga",
        correlation_id="corr-1",
    )
    return Reservations(store, aws.INVENTORY).handle(request)


def test_a_count_of_the_units_on_hand_keeps_what_orders_reserved(api, store):
    """Available 3, one reserved by an order; staff count 13 on hand (3 + 10 received): 12 are
    available, not 13 (the count used to set `available` over the reservation)."""
    api("PUT", "/inventory/SKU-1", body={"quantity": 4})
    assert reserve(store, "order-1", 1)["outcome"] == "reserved"
    counted = api("PUT", "/inventory/SKU-1", body={"quantity": 13})
    assert counted.status == 200, counted.body
    assert (counted.body["onHand"], counted.body["available"], counted.body["reserved"]) == (13, 12, 1)
    record = api("GET", "/inventory/SKU-1").body
    assert (record["available"], record["reserved"]) == (12, 1)


def test_a_count_below_the_units_reserved_is_a_409_and_changes_nothing(api, store):
    api("PUT", "/inventory/SKU-1", body={"quantity": 5})
    reserve(store, "order-1", 3)
    refused = api("PUT", "/inventory/SKU-1", body={"quantity": 2})
    assert refused.status == 409
    assert "3 units of SKU-1 are reserved" in refused.body["message"]
    assert api("GET", "/inventory/SKU-1").body["available"] == 2
    assert len(store.load("product:SKU-1")) == 1


def test_a_reservation_between_a_counts_read_and_its_write_is_kept(tables, store, monkeypatch):
    """The count read the record; an order reserved 2 units; the count's write is refused (the
    reserved units are not those it read), and its second attempt counts them."""
    from catalog import Caller
    from inventory.stock import Stock

    stock = Stock(store, aws.INVENTORY)
    stock.set("SKU-1", 5, caller=Caller("staff", "c"))
    read, reads = stock.get, []

    def read_then_an_order_reserves(product_id):
        record = read(product_id)
        reads.append(record)
        if len(reads) == 1:
            reserve(store, "order-1", 2)
        return record

    monkeypatch.setattr(stock, "get", read_then_an_order_reserves)
    counted = stock.set("SKU-1", 10, caller=Caller("staff", "c"))
    assert len(reads) == 2 and (counted.payload.onHand, counted.payload.available) == (10, 8)
    monkeypatch.undo()
    assert (stock.get("SKU-1")["available"], stock.get("SKU-1")["reserved"]) == (8, 2)


def test_a_completed_orders_units_leave_the_stock_once(api, store):
    from catalog import EventType, new_event
    from catalog.payloads import OrderCompleted
    from inventory.reservations import Reservations

    api("PUT", "/inventory/SKU-1", body={"quantity": 5})
    reserve(store, "order-1", 2)
    completed = new_event(
        EventType.ORDER_COMPLETED,
        aggregate_id="order-1",
        payload=OrderCompleted(orderId="order-1"),
        version=2,
        user_id="order-saga",
        correlation_id="corr-1",
    )
    reservations = Reservations(store, aws.INVENTORY)
    assert reservations.handle(completed)["outcome"] == "shipped"
    assert reservations.handle(completed)["outcome"] == "already-ended"  # delivered again
    record = api("GET", "/inventory/SKU-1").body
    assert (record["available"], record["reserved"]) == (3, 0)  # 3 on hand: 2 left for shipping
    # an order never reserved has nothing to ship
    other = completed.model_copy(update={"payload": OrderCompleted(orderId="order-2"), "aggregateId": "order-2"})
    assert reservations.handle(other)["outcome"] == "nothing-to-ship"


@pytest.mark.parametrize("conflicts", [1, 99])
def test_a_staff_write_meeting_a_reservation_under_way_is_retried_or_a_409_never_a_5xx(
    tables, lambda_context, monkeypatch, conflicts
):
    """Reservations and shipments are transactions on the same stock item: DynamoDB cancels the
    staff write with TransactionConflict. It is read again and retried; still conflicting, a 409."""
    from botocore.exceptions import ClientError

    from inventory import api

    client = api.stock()._store._client
    real, calls = client.transact_write_items, []

    def conflicted(**kwargs):
        calls.append(1)
        if len(calls) <= conflicts:
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return real(**kwargs)

    monkeypatch.setattr(client, "transact_write_items", conflicted)
    for path, body in (
        ("/inventory/SKU-1/prices", {"prices": {"EUR": "12.50"}}),
        ("/inventory/SKU-1", {"quantity": 3}),
    ):
        calls.clear()
        answer = call(api.handler, lambda_context, "PUT", path, body=body, customer=None)
        assert answer.status == (200 if conflicts == 1 else 409), answer.body
