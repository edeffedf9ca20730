"""A product's record: its stock and its price list. `available` units may be reserved for an
order; `reserved` ones are held for orders not yet completed (inventory/reservations.py moves
units between the two, and out of `reserved` when an order ships); the units on hand are the
sum. Staff set the units on hand (a count) and the prices; each change writes the record and
appends its event (INVENTORY_ADJUSTED, PRODUCT_PRICED) in one transaction: the change and its
event exist together or not at all (no dual write)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from catalog import Caller, Envelope, EventType, new_event
from catalog.payloads import InventoryAdjusted, Payload, ProductPriced
from common import clients
from eventstore.store import ConcurrencyError, Contended, EventStore, GuardFailed

MAX_ATTEMPTS = 3
# A product's stream in the event store: a key space of its own, so that no product id (chosen
# by staff, and without ':') is ever an order's, a user's or a payment's stream. Its versions
# are the stock record's: a product whose earlier events sit under its bare id (before key
# spaces) continues here at the next version, and none is ever written twice.
STREAM_PREFIX = "product:"


class ProductNotFound(LookupError):
    def __init__(self, product_id: str):
        super().__init__(f"product {product_id} has no stock record")


class BelowReserved(ValueError):
    """A count of fewer units on hand than are reserved for orders not yet shipped."""

    def __init__(self, product_id: str, quantity: int, reserved: int):
        super().__init__(
            f"{reserved} units of {product_id} are reserved for orders not yet shipped: a count of {quantity} "
            "on hand is fewer; count again, or cancel orders first"
        )


class StockContention(ConcurrencyError):
    """The product kept changing while we tried to set it."""


class Stock:
    """A product's record: its stock and its price list, one item whose version is its stream's."""

    def __init__(self, store: EventStore, table_name: str, *, client=None):
        self._store = store
        self._table = table_name
        self._client = client or clients.client("dynamodb")

    def get(self, product_id: str) -> dict:
        item = self._client.get_item(
            TableName=self._table, Key={"productId": {"S": product_id}}, ConsistentRead=True
        ).get("Item")
        if item is None:
            raise ProductNotFound(product_id)
        return {
            "productId": product_id,
            "available": int(item["available"]["N"]),
            "reserved": int(item.get("reserved", {"N": "0"})["N"]),
            "prices": {currency: f"{Decimal(price['N']):.2f}" for currency, price in prices_of(item).items()},
            "version": int(item["version"]["N"]),
            "updatedAt": item["updatedAt"]["S"],
        }

    def set(self, product_id: str, quantity: int, *, caller: Caller) -> Envelope:
        """Staff counted `quantity` units on hand: those reserved for orders not yet shipped stay
        reserved, and the rest are available. Written on condition that the reserved units are
        still those read (a reservation does not move the record's version): a count never
        overwrites a reservation. BelowReserved when fewer are on hand than are reserved."""

        def count(record: dict | None) -> Change:
            reserved = record["reserved"] if record else 0
            if quantity < reserved:
                raise BelowReserved(product_id, quantity, reserved)
            return Change(
                EventType.INVENTORY_ADJUSTED,
                InventoryAdjusted(productId=product_id, onHand=quantity, available=quantity - reserved),
                "available = :available",
                {":available": {"N": str(quantity - reserved)}, ":reserved": {"N": str(reserved)}},
                "reserved = :reserved" if record else None,
            )

        return self._change(product_id, count, caller)

    def set_prices(self, product_id: str, prices: dict[str, Decimal], *, caller: Caller) -> Envelope:
        """Replace the product's price list (a product with no stock record gets one, with none
        available). Orders placed before keep their prices: an order's lines carry theirs."""
        change = Change(
            EventType.PRODUCT_PRICED,
            ProductPriced(productId=product_id, prices=prices),
            "prices = :prices, available = if_not_exists(available, :zero)",
            {":prices": {"M": {currency: {"N": f"{price:.2f}"} for currency, price in prices.items()}}},
        )
        return self._change(product_id, lambda record: change, caller)

    def _change(self, product_id: str, decide: Callable[[dict | None], Change], caller: Caller) -> Envelope:
        """One change of the record and its event, in one transaction, on condition that the record
        is as read (its version, and what the change says it depends on); read and decided again
        when another writer got there first."""
        for _ in range(MAX_ATTEMPTS):
            try:
                record: dict | None = self.get(product_id)
            except ProductNotFound:
                record = None
            current = record["version"] if record else 0
            change = decide(record)
            event = new_event(
                change.event_type,
                aggregate_id=f"{STREAM_PREFIX}{product_id}",
                payload=change.payload,
                version=current + 1,
                user_id=caller.user_id,
                correlation_id=caller.correlation_id,
                causation_id=caller.causation_id,
            )
            condition = "attribute_not_exists(productId)"
            values = {
                **change.values,
                ":version": {"N": str(current + 1)},
                ":zero": {"N": "0"},
                ":now": {"S": datetime.now(UTC).isoformat()},
            }
            if record:
                condition = "version = :previous" + (f" AND {change.condition}" if change.condition else "")
                values[":previous"] = {"N": str(current)}
            else:  # a value only the condition of an existing record names is not sent
                values.pop(":reserved", None)
            write = {
                "Update": {
                    "TableName": self._table,
                    "Key": {"productId": {"S": product_id}},
                    "UpdateExpression": f"SET {change.assignments}, version = :version, updatedAt = :now, "
                    "reserved = if_not_exists(reserved, :zero)",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }
            try:
                self._store.append([event], together_with=[write])
                return event
            except (ConcurrencyError, GuardFailed, Contended):  # another writer, or a reservation under way
                continue
        raise StockContention(product_id, current + 1)


@dataclass(frozen=True)
class Change:
    """What a write does to a product's record: its event, the record's new values, and what else
    the record must still be as read for it to hold."""

    event_type: EventType
    payload: Payload
    assignments: str
    values: dict
    condition: str | None = None


def prices_of(item: dict) -> dict[str, dict]:
    """A stock item's price list, as stored: currency -> {"N": price}."""
    return item.get("prices", {}).get("M", {})
