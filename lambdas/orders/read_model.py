"""The orders read model: one item per order, the latest state the projection has applied.

Writes are conditional on the version the projection read, so two projections racing on
one order cannot interleave, and an older event can never overwrite a newer state.
"""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import boto3
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from catalog import Envelope, EventType
from catalog.payloads import OrderItem
from catalog.types import DEFAULT_CURRENCY
from orders.aggregate import Order, OrderStatus


class PaymentState(StrEnum):
    NONE = "NONE"  # nothing answered yet: not asked, or asked and not answered
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    REFUNDED = "REFUNDED"


class PaymentView(BaseModel):
    """The order's money, from its payment stream (`payment:<orderId>`): what was captured and
    what was refunded, as the payment's answers say, never as the order's total says."""

    model_config = ConfigDict(frozen=True)

    state: PaymentState = PaymentState.NONE
    captured: Decimal = Decimal("0.00")
    refunded: Decimal = Decimal("0.00")
    currency: str | None = None  # what the card network charged in (the order's, unless a bug or v1 said otherwise)
    version: int = 0  # of the payment stream: the last answer applied

    def apply(self, event: Envelope) -> "PaymentView":
        """The view after the payment stream's next event."""
        if event.version != self.version + 1:
            raise ValueError(f"payment at version {self.version} cannot take version {event.version}")
        payload = event.payload
        match EventType(event.eventType):
            case EventType.PAYMENT_PROCESSED:
                changes: dict[str, Any] = {
                    "state": PaymentState.CAPTURED,
                    "captured": payload.amount,
                    "currency": payload.currency,
                }
            case EventType.PAYMENT_FAILED:
                changes = {"state": PaymentState.DECLINED}
            case EventType.PAYMENT_REFUNDED:
                changes = {"state": PaymentState.REFUNDED, "refunded": self.refunded + payload.amount}
            case other:
                raise ValueError(f"{other} is not a payment's answer")
        return self.model_copy(update={**changes, "version": event.version})

    def to_api(self) -> dict[str, str]:
        body = {"state": self.state.value, "captured": f"{self.captured:.2f}", "refunded": f"{self.refunded:.2f}"}
        if self.currency is not None:
            body["currency"] = self.currency
        return body


class OrderView(BaseModel):
    """What GET /orders/{id} returns: the order's state plus when it was created and changed,
    and its money."""

    model_config = ConfigDict(frozen=True)

    order: Order
    createdAt: datetime
    updatedAt: datetime
    payment: PaymentView = PaymentView()

    @classmethod
    def folded(
        cls, events: list[Envelope], onto: "OrderView | None" = None, payment: PaymentView | None = None
    ) -> "OrderView":
        """The view after these events (in version order), from where `onto` left the order, or
        from its creation: what the projection writes one event at a time and a rebuild at once.
        Its money is `onto`'s, or the payment given."""
        order = onto.order if onto else None
        created_at = onto.createdAt if onto else None
        for event in events:
            if order is None:
                order, created_at = Order.started_by(event), event.timestamp
            else:
                order = order.apply(event)
        if order is None or created_at is None:
            raise ValueError("no events to fold")
        money = payment or (onto.payment if onto else PaymentView())
        return cls(order=order, createdAt=created_at, updatedAt=events[-1].timestamp, payment=money)

    def paid(self, events: list[Envelope]) -> "OrderView":
        """The view after the payment stream's next events (in version order)."""
        payment = self.payment
        for event in events:
            payment = payment.apply(event)
        return self.model_copy(update={"payment": payment, "updatedAt": max(self.updatedAt, events[-1].timestamp)})

    def to_api(self) -> dict[str, Any]:
        body = self.order.model_dump(mode="json")
        body["totalAmount"] = f"{self.order.totalAmount:.2f}"
        body["createdAt"] = _iso(self.createdAt)
        body["updatedAt"] = _iso(self.updatedAt)
        body["payment"] = self.payment.to_api()
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
            payment=PaymentView(
                state=item.get("paymentState", PaymentState.NONE),
                captured=item.get("captured", Decimal("0.00")),
                refunded=item.get("refunded", Decimal("0.00")),
                currency=item.get("paymentCurrency"),
                version=int(item.get("paymentVersion", 0)),
            ),
        )

    def save(self, view: OrderView, *, previous: OrderView | None) -> None:
        """Write the view if the stored one is still the one read (None: absent): at the order's
        version and the payment's, so that neither stream's writer overwrites the other's."""
        if previous is None:
            self._put(view, "attribute_not_exists(orderId)", {})
        else:
            self._put(
                view,
                "version = :previous AND (attribute_not_exists(paymentVersion) OR paymentVersion = :paid)",
                {":previous": previous.order.version, ":paid": previous.payment.version},
            )

    def save_if_newer(self, view: OrderView) -> bool:
        """Write the view unless the stored one is as new or newer, in both the order's stream
        and the payment's (a rebuild never regresses)."""
        condition, values = "attribute_not_exists(orderId) OR version < :version", {":version": view.order.version}
        if view.payment.version:
            condition += " OR (version = :version AND (attribute_not_exists(paymentVersion) OR paymentVersion < :paid))"
            values[":paid"] = view.payment.version
        try:
            self._put(view, condition, values)
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
        if view.payment.version:
            item |= {
                "paymentState": view.payment.state.value,
                "captured": view.payment.captured,
                "refunded": view.payment.refunded,
                "paymentVersion": view.payment.version,
            }
            if view.payment.currency is not None:
                item["paymentCurrency"] = view.payment.currency
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
