"""The price book: what each product costs, read from the inventory service's records (which
staff set through PUT /inventory/{productId}/prices), for the orders API to price an order with.
A client's price is never trusted: at most it is checked against this."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from common import clients
from inventory.stock import prices_of

BATCH_KEYS = 100  # BatchGetItem's most keys a call


class PriceBook:
    def __init__(self, table_name: str, *, client=None):
        self._table = table_name
        self._client = client or clients.client("dynamodb")

    def prices(self, product_ids: Iterable[str], currency: str) -> dict[str, Decimal]:
        """Each product's price in the currency, for those sold in it (a product with no record,
        or not priced in the currency, is absent). Read consistently: an order placed after a
        price change is priced at the new price."""
        wanted = list(dict.fromkeys(product_ids))
        found: dict[str, Decimal] = {}
        for start in range(0, len(wanted), BATCH_KEYS):
            keys = [{"productId": {"S": product_id}} for product_id in wanted[start : start + BATCH_KEYS]]
            request: dict | None = {
                self._table: {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": "productId, prices",
                }
            }
            while request:  # keys BatchGetItem left unread come again
                response = self._client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    price = prices_of(item).get(currency)
                    if price is not None:
                        found[item["productId"]["S"]] = Decimal(price["N"])
                request = response.get("UnprocessedKeys") or None
        return found
