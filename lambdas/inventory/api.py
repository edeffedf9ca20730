"""Lambda: the inventory HTTP API.

PUT /inventory/{productId}   set the available stock {quantity}: a non-negative integer
GET /inventory/{productId}   the stock record
"""

from functools import cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from common.api import api_handler, caller, path_id, resolver
from common.http import json_response, parse_body
from common.settings import FunctionSettings, ReadWriteTable
from eventstore.store import EventStore
from inventory.stock import ProductNotFound, Stock, StockContention

app = resolver({ProductNotFound: HTTPStatus.NOT_FOUND, StockContention: HTTPStatus.CONFLICT})


class SetStock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=0, le=1_000_000_000, strict=True)


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
    return json_response(
        HTTPStatus.OK,
        {"productId": product_id, "available": body.quantity, "version": event.version},
        who.correlation_id,
    )


@app.get("/inventory/<product_id>")
def get_stock(product_id: str) -> Response:
    return json_response(HTTPStatus.OK, stock().get(path_id(product_id, "productId")), caller(app).correlation_id)


handler = api_handler(app)
