"""The payload model of every event type: what each event says, validated on both ends."""

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from catalog.types import SUPPORTED_CURRENCIES, Currency, Email, Identifier, Money, Quantity


class Payload(BaseModel):
    """Base of every payload: immutable, and unknown fields are a producer bug, not noise. Its
    errors quote no input (it may be a customer's address), wherever they are raised."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, hide_input_in_errors=True)


class OrderItem(Payload):
    productId: Identifier
    quantity: Quantity
    price: Money

    @property
    def line_total(self) -> Decimal:
        return self.price * self.quantity


def order_total(items: tuple[OrderItem, ...] | list[OrderItem]) -> Decimal:
    return sum((item.line_total for item in items), Decimal("0.00"))


class _PricedItems(Payload):
    """Lines plus a total that must add up: the invariant every order event carries."""

    items: tuple[OrderItem, ...] = Field(min_length=1, max_length=100)
    totalAmount: Money

    @model_validator(mode="after")
    def _total_matches_lines(self) -> "_PricedItems":
        expected = order_total(self.items)
        if self.totalAmount != expected:
            # No amounts: an error says what is wrong, never a value (catalog/errors.py).
            raise ValueError("totalAmount does not equal the sum of the lines (price x quantity)")
        return self


class OrderCreated(_PricedItems):
    """v2 added currency (required); v1 events are read as DEFAULT_CURRENCY (catalog/upcasting.py)."""

    orderId: Identifier
    customerId: Identifier
    currency: Currency


class OrderUpdated(_PricedItems):
    orderId: Identifier


class OrderCancelled(Payload):
    orderId: Identifier
    reason: str = Field(min_length=1, max_length=500)


class OrderCompleted(Payload):
    orderId: Identifier


class UserRegistered(Payload):
    userId: Identifier
    email: Email
    name: str = Field(min_length=1, max_length=200)


class PaymentRequested(Payload):
    """v2 added currency: the order's (v1 was read as DEFAULT_CURRENCY, catalog/upcasting.py)."""

    orderId: Identifier
    customerId: Identifier
    amount: Money
    currency: Currency


class PaymentProcessed(Payload):
    """v2 added currency: what the network charged in."""

    orderId: Identifier
    paymentId: Identifier
    amount: Money
    currency: Currency


class PaymentFailed(Payload):
    orderId: Identifier
    reason: str = Field(min_length=1, max_length=500)


class PaymentRefunded(Payload):
    """v2 added currency: the charge's."""

    orderId: Identifier
    paymentId: Identifier
    amount: Money
    currency: Currency


class ProductPriced(Payload):
    """A product's price list: one price per currency it is sold in; a currency it does not name,
    it is not sold in. It replaces the product's earlier list, and alters no order already placed
    (each order's lines carry the price they were placed at)."""

    productId: Identifier
    prices: dict[Currency, Money] = Field(min_length=1, max_length=len(SUPPORTED_CURRENCIES))


class InventoryAdjusted(Payload):
    """Staff counted the product's units on hand (v2): `onHand` of them, of which `available` may
    be reserved for orders; the rest are reserved already. v1 said only `quantity`, the units then
    available, set over any reserved (the overwrite v2 fixed): it reads as that many on hand and
    available (catalog/upcasting.py)."""

    productId: Identifier
    onHand: int = Field(ge=0, strict=True)
    available: int = Field(ge=0, strict=True)

    @model_validator(mode="after")
    def _available_of_on_hand(self) -> "InventoryAdjusted":
        if self.available > self.onHand:
            raise ValueError("available is more than the units on hand")
        return self


class ReservedLine(Payload):
    productId: Identifier
    quantity: Quantity


class InventoryUpdated(Payload):
    """Every line of an order reserved, all at once."""

    orderId: Identifier
    lines: tuple[ReservedLine, ...] = Field(min_length=1, max_length=100)


class InventoryInsufficient(Payload):
    orderId: Identifier
    shortLines: tuple[ReservedLine, ...] = Field(min_length=1, max_length=100)


class InventoryReleased(Payload):
    orderId: Identifier
    lines: tuple[ReservedLine, ...] = Field(min_length=1, max_length=100)


class InventoryShipped(Payload):
    """A completed order's reservation handed over for shipping: its units leave the stock."""

    orderId: Identifier
    lines: tuple[ReservedLine, ...] = Field(min_length=1, max_length=100)


class PaymentRefundRequested(Payload):
    """The saga asks payments to give a charge back (compensation)."""

    orderId: Identifier
    paymentId: Identifier
    amount: Money
    currency: Currency  # v2: the charge's
    reason: str = Field(min_length=1, max_length=500)


class InventoryReservationRequested(Payload):
    """The saga asks inventory to reserve every line of an order, all or none."""

    orderId: Identifier
    lines: tuple[ReservedLine, ...] = Field(min_length=1, max_length=100)


class InventoryReleaseRequested(Payload):
    """The saga asks inventory to undo an order's reservation (compensation)."""

    orderId: Identifier
