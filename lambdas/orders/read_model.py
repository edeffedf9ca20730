"""The orders read model: one item per order, the latest state the projection has applied.

Writes are conditional on the version the projection read, so two projections racing on
one order cannot interleave, and an older event can never overwrite a newer state.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from catalog import Envelope
from catalog.payloads import OrderItem
from catalog.types import DEFAULT_CURRENCY
from orders.aggregate import Order, OrderStatus


class OrderView(BaseModel):
    """What GET /orders/{id} returns: the order's state plus when it was created and changed."""

    model_config = ConfigDict(frozen=True)

    order: Order
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def folded(cls, events: list[Envelope], onto: "OrderView | None" = None) -> "OrderView":
        """The view after these events (in version order), from where `onto` left the order, or
        from its creation: what the projection writes one event at a time and a rebuild at once."""
        order = onto.order if onto else None
        created_at = onto.createdAt if onto else None
        for event in events:
            if order is None:
                order, created_at = Order.started_by(event), event.timestamp
            else:
                order = order.apply(event)
        if order is None or created_at is None:
            raise ValueError("no events to fold")
        return cls(order=order, createdAt=created_at, updatedAt=events[-1].timestamp)

    def to_api(self) -> dict[str, Any]:
        body = self.order.model_dump(mode="json")
        body["totalAmount"] = f"{self.order.totalAmount:.2f}"
        body["createdAt"] = _iso(self.createdAt)
        body["updatedAt"] = _iso(self.updatedAt)
        return body


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StaleWrite(Exception):
    """The read model moved on since it was read; read again and re-apply."""


class OrdersReadModel:
    def __init__(self, table_name: str, *, resource=None):
        self._table = (resource or boto3.resource("dynamodb")).Table(table_name)

    def get(self, order_id: str, *, consistent: bool = False) -> OrderView | None:
        item = self._table.get_item(Key={"orderId": order_id}, ConsistentRead=consistent).get("Item")
        if item is None:
            return None
        return OrderView(
            order=Order(
                orderId=item["orderId"],
                customerId=item["customerId"],
                items=tuple(OrderItem(**{**line, "quantity": int(line["quantity"])}) for line in item["items"]),
                totalAmount=item["totalAmount"],
                currency=item.get("currency", DEFAULT_CURRENCY),
                status=item["status"],
                version=int(item["version"]),
                cancelReason=item.get("cancelReason"),
            ),
            createdAt=item["createdAt"],
            updatedAt=item["updatedAt"],
        )

    def save(self, view: OrderView, *, previous_version: int | None) -> None:
        """Write the view if the stored one is still at previous_version (None: absent)."""
        if previous_version is None:
            self._put(view, "attribute_not_exists(orderId)", {})
        else:
            self._put(view, "version = :previous", {":previous": previous_version})

    def save_if_newer(self, view: OrderView) -> bool:
        """Write the view unless the stored one is as new or newer (a rebuild never regresses)."""
        try:
            self._put(view, "attribute_not_exists(orderId) OR version < :version", {":version": view.order.version})
        except StaleWrite:
            return False
        return True

    def _put(self, view: OrderView, condition: str, values: dict[str, Any]) -> None:
        order = view.order
        item: dict[str, Any] = {
            "orderId": order.orderId,
            "customerId": order.customerId,
            "items": [
                {"productId": i.productId, "quantity": i.quantity, "price": Decimal(i.price)} for i in order.items
            ],
            "totalAmount": Decimal(order.totalAmount),
            "currency": order.currency,
            "status": order.status.value,
            "version": order.version,
            "createdAt": view.createdAt.isoformat(),
            "updatedAt": view.updatedAt.isoformat(),
        }
        if order.cancelReason:
            item["cancelReason"] = order.cancelReason
        if order.status is OrderStatus.PENDING:
            # The sparse index the saga's timeout sweep reads: an order enters it once, placed,
            # and leaves it once, settled (the key never changes in between, so an update of a
            # pending order rewrites no index entry).
            item["pendingSince"] = view.createdAt.isoformat()
        extra = {"ExpressionAttributeValues": values} if values else {}
        try:
            self._table.put_item(Item=item, ConditionExpression=condition, **extra)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise StaleWrite(order.orderId) from None
            raise
