"""Lambda: the inventory HTTP API.

PUT /inventory/{productId}          staff counted {quantity} units on hand: those reserved for
                                    orders not yet shipped stay reserved, the rest are available
PUT /inventory/{productId}/prices   set its price list {prices: {currency: price}}: the
                                    currencies it is sold in, each price a decimal string
GET /inventory/{productId}          the stock record and its prices
"""

from functools import cache
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from catalog.types import SUPPORTED_CURRENCIES, Currency, Money, supported
from common.api import api_handler, caller, path_id, resolver
from common.http import json_response, parse_body
from common.settings import FunctionSettings, ReadWriteTable
from eventstore.store import Contended, EventStore
from inventory.stock import BelowReserved, ProductNotFound, Stock, StockContention

app = resolver(
    {
        ProductNotFound: HTTPStatus.NOT_FOUND,
        StockContention: HTTPStatus.CONFLICT,
        BelowReserved: HTTPStatus.CONFLICT,
        Contended: HTTPStatus.CONFLICT,
    }
)


class SetStock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=0, le=1_000_000_000, strict=True)


class SetPrices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Each currency one the card network takes; a price as money is written ("12.50").
    prices: dict[Annotated[Currency, AfterValidator(supported)], Money] = Field(
        min_length=1, max_length=len(SUPPORTED_CURRENCIES)
    )


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable
    inventory_table_name: ReadWriteTable


@cache
def stock() -> Stock:
    settings = Settings.current()
    return Stock(EventStore(settings.event_store_table_name), settings.inventory_table_name)


@app.put("/inventory/<product_id>")
def set_stock(product_id: str) -> Response:
    who = caller(app)
    product_id = path_id(product_id, "productId")
    body = parse_body(app.current_event.body, SetStock)
    event = stock().set(product_id, body.quantity, caller=who)
    counted = event.payload
    return json_response(
        HTTPStatus.OK,
        {
            "productId": product_id,
            "onHand": counted.onHand,
            "available": counted.available,
            "reserved": counted.onHand - counted.available,
            "version": event.version,
        },
        who.correlation_id,
    )


@app.put("/inventory/<product_id>/prices")
def set_prices(product_id: str) -> Response:
    who = caller(app)
    product_id = path_id(product_id, "productId")
    body = parse_body(app.current_event.body, SetPrices)
    event = stock().set_prices(product_id, body.prices, caller=who)
    prices = {currency: f"{price:.2f}" for currency, price in body.prices.items()}
    return json_response(
        HTTPStatus.OK, {"productId": product_id, "prices": prices, "version": event.version}, who.correlation_id
    )


@app.get("/inventory/<product_id>")
def get_stock(product_id: str) -> Response:
    return json_response(HTTPStatus.OK, stock().get(path_id(product_id, "productId")), caller(app).correlation_id)


handler = api_handler(app)
