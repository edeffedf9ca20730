"""Stock per product. Setting it writes the stock item and appends INVENTORY_ADJUSTED in one
transaction: the change and its event exist together or not at all (no dual write)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from catalog import Caller, Envelope, EventType, new_event
from catalog.payloads import InventoryAdjusted, ProductPriced
from common import clients
from eventstore.store import ConcurrencyError, EventStore, GuardFailed

MAX_ATTEMPTS = 3
# A product's stream in the event store: a key space of its own, so that no product id (chosen
# by staff, and without ':') is ever an order's, a user's or a payment's stream. Its versions
# are the stock record's: a product whose earlier events sit under its bare id (before key
# spaces) continues here at the next version, and none is ever written twice.
STREAM_PREFIX = "product:"


class ProductNotFound(LookupError):
    def __init__(self, product_id: str):
        super().__init__(f"product {product_id} has no stock record")


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
        """Set the available quantity; retried when another writer got there first (the
        new value does not depend on the old one)."""
        return self._change(
            product_id,
            EventType.INVENTORY_ADJUSTED,
            InventoryAdjusted(productId=product_id, quantity=quantity),
            "available = :quantity",
            {":quantity": {"N": str(quantity)}},
            caller,
        )

    def set_prices(self, product_id: str, prices: dict[str, Decimal], *, caller: Caller) -> Envelope:
        """Replace the product's price list (a product with no stock record gets one, with none
        available). Orders placed before keep their prices: an order's lines carry theirs."""
        return self._change(
            product_id,
            EventType.PRODUCT_PRICED,
            ProductPriced(productId=product_id, prices=prices),
            "prices = :prices, available = if_not_exists(available, :zero)",
            {":prices": {"M": {currency: {"N": f"{price:.2f}"} for currency, price in prices.items()}}},
            caller,
        )

    def _change(
        self, product_id: str, event_type: EventType, payload, assignments: str, values: dict, caller: Caller
    ) -> Envelope:
        """One change of the record and its event, in one transaction, on condition that the record
        is at the version read; retried when another writer got there first (no change here
        depends on the record's earlier value)."""
        for _ in range(MAX_ATTEMPTS):
            try:
                current = self.get(product_id)["version"]
            except ProductNotFound:
                current = 0
            event = new_event(
                event_type,
                aggregate_id=f"{STREAM_PREFIX}{product_id}",
                payload=payload,
                version=current + 1,
                user_id=caller.user_id,
                correlation_id=caller.correlation_id,
                causation_id=caller.causation_id,
            )
            write = {
                "Update": {
                    "TableName": self._table,
                    "Key": {"productId": {"S": product_id}},
                    "UpdateExpression": f"SET {assignments}, version = :version, updatedAt = :now, "
                    "reserved = if_not_exists(reserved, :zero)",
                    "ConditionExpression": "attribute_not_exists(productId) OR version = :previous",
                    "ExpressionAttributeValues": {
                        **values,
                        ":version": {"N": str(current + 1)},
                        ":previous": {"N": str(current)},
                        ":zero": {"N": "0"},
                        ":now": {"S": datetime.now(UTC).isoformat()},
                    },
                }
            }
            try:
                self._store.append([event], guards=[write])
                return event
            except (ConcurrencyError, GuardFailed):
                continue
        raise StockContention(product_id, current + 1)


def prices_of(item: dict) -> dict[str, dict]:
    """A stock item's price list, as stored: currency -> {"N": price}."""
    return item.get("prices", {}).get("M", {})
