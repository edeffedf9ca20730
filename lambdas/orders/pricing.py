"""An order's prices come from the catalog, never from the client.

The client sends product ids and quantities, and may send the price it showed the customer. The
server prices each line: the units of a product the order already holds keep the price they were
placed at (a price change never alters an order already placed), and any other units, of a new
product or more of one it holds, take the catalog's price in the order's currency today, as a
line of their own. A shown price that is not the one charged is refused with the prices that
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

    stale: tuple[int, ...]  # the client's lines' indices
    priced: tuple[tuple[OrderItem, ...], ...]  # each client line at the prices it would be charged

    def __str__(self) -> str:
        return "the price of " + ", ".join(self.priced[i][0].productId for i in self.stale) + " has changed"

    def now(self, index: int) -> str:
        items = self.priced[index]
        if len(items) == 1:
            return f"the price is now {items[0].price:.2f}"
        return "the price is now " + " and ".join(f"{item.price:.2f} for {item.quantity}" for item in items)


def placed_units(items: Sequence[OrderItem]) -> dict[str, list[tuple[Decimal, int]]]:
    """An order's units by product: each price it holds them at, and how many."""
    placed: dict[str, list[tuple[Decimal, int]]] = {}
    for item in items:
        placed.setdefault(item.productId, []).append((item.price, item.quantity))
    return placed


def price_lines(
    lines: Sequence[Line],
    currency: str,
    book: Prices,
    *,
    placed: Mapping[str, list[tuple[Decimal, int]]] | None = None,
) -> tuple[OrderItem, ...]:
    """The lines at the prices they are charged: the units `placed` (an order's own, by product)
    at theirs first, the rest at the book's. NotForSale on the first line that needs a price the
    book does not have; PriceChanged when a shown price is not the one charged."""
    left = {product: list(held) for product, held in (placed or {}).items()}
    split: list[list[tuple[Decimal | None, int]]] = []  # each line: (placed price, or None: today's; units)
    for line in lines:
        parts: list[tuple[Decimal | None, int]] = []
        wanted = line.quantity
        held = left.get(line.productId, [])
        while wanted and held:
            at, units = held[0]
            take = min(units, wanted)
            parts.append((at, take))
            wanted -= take
            held[0] = (at, units - take)
            if held[0][1] == 0:
                held.pop(0)
        if wanted:
            parts.append((None, wanted))
        split.append(parts)
    needed = [line.productId for line, todo in zip(lines, split, strict=True) if any(p is None for p, _ in todo)]
    current = book.prices(needed, currency) if needed else {}
    priced: list[tuple[OrderItem, ...]] = []
    for index, (line, line_parts) in enumerate(zip(lines, split, strict=True)):
        items: list[OrderItem] = []
        for price, units in line_parts:
            charged = price if price is not None else current.get(line.productId)
            if charged is None:
                raise NotForSale(index, line.productId, currency)
            if items and items[-1].price == charged:  # the same price whether placed or today: one line
                units += items.pop().quantity
            items.append(OrderItem(productId=line.productId, quantity=units, price=charged))
        priced.append(tuple(items))
    stale = tuple(
        i
        for i, line in enumerate(lines)
        if line.price is not None and any(item.price != line.price for item in priced[i])
    )
    if stale:
        raise PriceChanged(stale, tuple(priced))
    return tuple(item for items in priced for item in items)
