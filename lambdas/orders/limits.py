"""What an order may hold: what the platform can charge in one amount and reserve in one
transaction. The API refuses more (a 400 on items); the saga cancels, uncharged, an order stored
before it did (saga/machine.py)."""

from collections.abc import Iterable
from decimal import Decimal
from typing import Protocol

from catalog.types import MAX_QUANTITY
from eventstore.store import MAX_TRANSACTION_ACTIONS

# An order's lines are reserved, and released, in one transaction: the answer's event and one
# stock update a product (inventory/reservations.py), within DynamoDB's 100 actions. More lines
# are a 400 that names the limit.
MAX_LINES = MAX_TRANSACTION_ACTIONS - 1
# The largest amount an order's total may be: what Money holds (12 digits, 2 after the point).
LARGEST_TOTAL = Decimal("9999999999.99")


class Line(Protocol):
    @property
    def productId(self) -> str: ...
    @property
    def quantity(self) -> int: ...


def per_product(items: Iterable[Line]) -> dict[str, int]:
    """Each product's quantity over the lines, in the order the products first appear."""
    totals: dict[str, int] = {}
    for item in items:
        totals[item.productId] = totals.get(item.productId, 0) + item.quantity
    return totals


def unreservable(items: Iterable[Line]) -> str | None:
    """Why these lines cannot be reserved in one transaction, if they cannot: more products than
    it holds, or a product's quantity over what one line of a reservation may take. The API
    refuses such orders (orders/api.py); one stored before it did is cancelled, not charged."""
    totals = per_product(items)
    if len(totals) > MAX_TRANSACTION_ACTIONS - 1:
        return f"more products than one reservation holds ({MAX_TRANSACTION_ACTIONS - 1})"
    if any(quantity > MAX_QUANTITY for quantity in totals.values()):
        return f"a product's quantity over its lines is more than one reservation takes ({MAX_QUANTITY})"
    return None
