"""An order's prices come from the catalog, never from the client.

The client sends product ids and quantities, and may send the price it showed the customer. The
server prices each line: a product the order already holds keeps the price it was placed at (a
price change never alters an order already placed); any other takes the catalog's price in the
order's currency today. A shown price that is not the one charged is refused with the price that
would be (PriceChanged: a 409), never silently re-priced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from catalog.payloads import OrderItem


class Line(Protocol):
    """A line as the client sends it."""

    productId: str
    quantity: int
    price: Decimal | None  # the price it was shown, if it says


class Prices(Protocol):
    def prices(self, product_ids: Sequence[str], currency: str) -> dict[str, Decimal]: ...


class NotForSale(LookupError):
    """A line's product has no price in the order's currency: it is not sold in it."""

    def __init__(self, index: int, product_id: str, currency: str):
        super().__init__(f"{product_id} is not for sale in {currency}")
        self.index = index


@dataclass(frozen=True)
class PriceChanged(Exception):
    """The client showed prices that are not the ones it would be charged."""

    stale: tuple[int, ...]  # the lines' indices
    priced: tuple[OrderItem, ...]  # every line at the price it would be charged

    def __str__(self) -> str:
        return "the price of " + ", ".join(self.priced[i].productId for i in self.stale) + " has changed"


def price_lines(
    lines: Sequence[Line], currency: str, book: Prices, *, placed: Mapping[str, Decimal] | None = None
) -> tuple[OrderItem, ...]:
    """The lines at the prices they are charged: `placed` (an order's own prices, by product)
    first, then the book's. NotForSale on the first line with neither; PriceChanged when a shown
    price is not the one charged."""
    placed = placed or {}
    unplaced = [line.productId for line in lines if line.productId not in placed]
    current = book.prices(unplaced, currency) if unplaced else {}
    priced = []
    for index, line in enumerate(lines):
        price = placed.get(line.productId, current.get(line.productId))
        if price is None:
            raise NotForSale(index, line.productId, currency)
        priced.append(OrderItem(productId=line.productId, quantity=line.quantity, price=price))
    stale = tuple(i for i, line in enumerate(lines) if line.price is not None and line.price != priced[i].price)
    if stale:
        raise PriceChanged(stale, tuple(priced))
    return tuple(priced)
