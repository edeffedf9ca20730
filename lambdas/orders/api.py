"""Lambda: the orders HTTP API. Commands append to the event store; queries read the read model.

Every route is the signed-in customer's (a Cognito ID token): an order is placed in their name,
and they read, change and cancel only their own. Someone else's order answers 404, as one that
does not exist, so that ids cannot be probed.

POST /orders                   place an order (Idempotency-Key header: same answer, one order)
PUT  /orders/{id}              replace its lines, given expectedVersion (409 when stale)
POST /orders/{id}/cancel       cancel it, with a reason
GET  /orders/{id}              the read model (eventually consistent)
GET  /orders/{id}/events       its history, from the event store
"""

import re
import uuid
from decimal import Decimal
from functools import cache
from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from botocore.exceptions import ClientError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from catalog import Caller, EventType
from catalog.payloads import OrderCreated, OrderItem, order_total
from catalog.types import DEFAULT_CURRENCY, CallerId, Currency, Money, Quantity, supported
from common.api import api_handler, customer, path_id, resolver
from common.http import ApiError, bad_request, json_response, parse_body
from common.settings import CustomersAppClientId, FunctionSettings, ReadTable, ReadWriteTable
from eventstore.store import ConcurrencyError, Contended, EventStore, EventTooLarge
from inventory.prices import PriceBook
from orders.aggregate import InvalidTransition
from orders.limits import LARGEST_TOTAL, MAX_LINES, unreservable
from orders.pricing import NotForSale, PriceChanged, placed_units, price_lines
from orders.read_model import OrdersReadModel
from orders.service import OrderNotFound, OrderService

IDEMPOTENCY_TTL_SECONDS = 24 * 3600
_ORDER_IDS = uuid.UUID("6f1c7b52-3c8e-4d0a-9a57-2a7f0f5d9e11")  # namespace of the ids derived from keys
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,128}$")

app = resolver(
    {
        OrderNotFound: HTTPStatus.NOT_FOUND,
        ConcurrencyError: HTTPStatus.CONFLICT,
        Contended: HTTPStatus.CONFLICT,
        InvalidTransition: HTTPStatus.CONFLICT,
        EventTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    }
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ShownLine(_Body):
    """A line as the client sends it: the product and how many. The price is the catalog's
    (orders/pricing.py); a client may send the one it showed, and is refused if it is not it."""

    productId: CallerId
    quantity: Quantity
    price: Money | None = None


def _reservable(lines: list[ShownLine]) -> list[ShownLine]:
    """Lines one reservation holds (the saga cancels an order it cannot reserve: saga/machine.py)."""
    if (why := unreservable(lines)) is not None:
        raise ValueError(why)
    return lines


Lines = Annotated[list[ShownLine], Field(min_length=1, max_length=MAX_LINES), AfterValidator(_reservable)]


class PlaceOrder(_Body):
    # No customerId: the customer is who the token says (a body naming one is a 400 on the field).
    items: Lines
    currency: Annotated[Currency, AfterValidator(supported)] = DEFAULT_CURRENCY


class UpdateOrder(_Body):
    items: Lines
    expectedVersion: int = Field(ge=1, strict=True)


class CancelOrder(_Body):
    reason: str = Field(default="cancelled by the customer", min_length=1, max_length=500)
    expectedVersion: int | None = Field(default=None, ge=1, strict=True)


# ---- dependencies, built on first use ----------------------------------------------------


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable
    orders_table_name: ReadTable
    inventory_table_name: ReadTable  # the price book
    idempotency_table_name: ReadWriteTable
    customers_app_client_id: CustomersAppClientId


@cache
def store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


@cache
def orders() -> OrderService:
    return OrderService(store())


@cache
def price_book() -> PriceBook:
    return PriceBook(Settings.current().inventory_table_name)


def priced(
    lines: list[ShownLine], currency: str, placed: dict[str, list[tuple[Decimal, int]]] | None = None
) -> tuple[OrderItem, ...]:
    """The lines at the catalog's prices (or the order's own, `placed`): a 400 on a product not for
    sale in the currency or a total over what an order may be, a 409 on a stale shown price."""
    try:
        items = price_lines(lines, currency, price_book(), placed=placed)
    except NotForSale as error:
        raise bad_request(f"items.{error.index}.productId", str(error)) from None
    except PriceChanged as error:
        raise ApiError(
            HTTPStatus.CONFLICT,
            f"{error}: nothing was ordered; show the customer the current prices and send them again",
            [{"field": f"items.{i}.price", "message": error.now(i)} for i in error.stale],
            items=[item.model_dump(mode="json") for items in error.priced for item in items],
        ) from None
    if len(items) > MAX_LINES:
        raise bad_request(
            "items",
            f"more than {MAX_LINES} lines at their prices (units added to a product the order holds are a line "
            "of their own, at today's price)",
        )
    if order_total(items) > LARGEST_TOTAL:
        raise bad_request(
            "items", f"the lines' total (price x quantity) is over the largest an order may be, {LARGEST_TOTAL}"
        )
    return items


@cache
def read_model() -> OrdersReadModel:
    return OrdersReadModel(Settings.current().orders_table_name)


@cache
def idempotency_config() -> IdempotencyConfig:
    # A key is the customer's own: the same key and body from another customer is another order.
    return IdempotencyConfig(
        event_key_jmespath="[caller.user_id, key]",
        payload_validation_jmespath="body",
        expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
    )


@cache
def place_once():
    """_place_order guarded by the Idempotency-Key: a repeat returns the first result."""
    persistence = DynamoDBPersistenceLayer(table_name=Settings.current().idempotency_table_name)
    return idempotent_function(
        _place_order, data_keyword_argument="request", config=idempotency_config(), persistence_store=persistence
    )


# ---- routes ------------------------------------------------------------------------------


def _place_order(request: dict[str, Any]) -> dict[str, Any]:
    body = PlaceOrder.model_validate(request["body"])
    who = Caller(**request["caller"])
    # With an Idempotency-Key the order's id is derived from it: a run that appended the order
    # and died before its idempotency record said so (a timeout, a crash) is run again after
    # the record's lease, and must find that order rather than place a second one.
    order_id = str(uuid.uuid5(_ORDER_IDS, f"{who.user_id}\n{request['key']}")) if request.get("key") else None
    try:
        items = priced(body.items, body.currency)
        event = orders().place(
            customer_id=who.user_id, items=items, currency=body.currency, caller=who, order_id=order_id
        )
    except (ApiError, ConcurrencyError):
        # Placed already under this key: the first answer, whatever the prices are now.
        placed = store().load(order_id, up_to_version=1) if order_id is not None else []
        if not placed:
            raise
        event = placed[0]
        if not _same_order(event.payload, who, body):
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "this Idempotency-Key was used with a different body"
            ) from None
    return {"orderId": event.aggregateId, "version": event.version, "eventId": str(event.eventId)}


def _same_order(placed: OrderCreated, who: Caller, body: PlaceOrder) -> bool:
    """Whether the order placed is this body's: its customer, currency, products and quantities,
    and the prices shown, where the body shows them."""
    return (
        placed.customerId == who.user_id
        and placed.currency == body.currency
        and len(placed.items) == len(body.items)
        and all(
            item.productId == line.productId and item.quantity == line.quantity and line.price in (None, item.price)
            for item, line in zip(placed.items, body.items, strict=True)
        )
    )


def signed_in() -> Caller:
    return customer(app, Settings.current().customers_app_client_id)


@app.post("/orders")
def place() -> Response:
    who = signed_in()
    body = parse_body(app.current_event.body, PlaceOrder)
    request = {"body": body.model_dump(mode="json"), "caller": who.__dict__}
    key = app.current_event.headers.get("Idempotency-Key")
    if key is None:
        result = _place_order(request)
    elif not _IDEMPOTENCY_KEY.match(key):
        raise bad_request("Idempotency-Key", "8-128 letters, digits, '_', '.', ':' or '-'")
    else:
        try:
            result = place_once()(request={**request, "key": key})
        except IdempotencyValidationError:
            raise ApiError(
                HTTPStatus.UNPROCESSABLE_ENTITY, "this Idempotency-Key was used with a different body"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise ApiError(
                HTTPStatus.CONFLICT, "a request with this Idempotency-Key is in progress; retry shortly"
            ) from None
        except IdempotencyPersistenceLayerError as error:
            if isinstance(error.__cause__, ClientError):
                raise error.__cause__ from None  # the record's table refused the call: answered as the call's error
            raise
    return json_response(HTTPStatus.CREATED, result, who.correlation_id, Location=f"/orders/{result['orderId']}")


@app.put("/orders/<order_id>")
def update(order_id: str) -> Response:
    who = signed_in()
    order_id = path_id(order_id)
    body = parse_body(app.current_event.body, UpdateOrder)
    event = orders().update_items(
        order_id,
        # priced as the order is: its products keep the prices they were placed at
        items=lambda order: priced(body.items, order.currency, placed_units(order.items)),
        expected_version=body.expectedVersion,
        caller=who,
        owner=who.user_id,
    )
    return json_response(HTTPStatus.OK, {"orderId": order_id, "version": event.version}, who.correlation_id)


@app.post("/orders/<order_id>/cancel")
def cancel(order_id: str) -> Response:
    who = signed_in()
    order_id = path_id(order_id)
    raw = app.current_event.body
    body = parse_body(raw, CancelOrder) if raw else CancelOrder()
    event = orders().cancel(
        order_id, reason=body.reason, expected_version=body.expectedVersion, caller=who, owner=who.user_id
    )
    return json_response(HTTPStatus.OK, {"orderId": order_id, "version": event.version}, who.correlation_id)


@app.get("/orders/<order_id>")
def get_order(order_id: str) -> Response:
    who = signed_in()
    view = read_model().get(path_id(order_id))
    if view is None or view.order.customerId != who.user_id:
        raise OrderNotFound(order_id)
    return json_response(HTTPStatus.OK, view.to_api(), who.correlation_id)


@app.get("/orders/<order_id>/events")
def get_events(order_id: str) -> Response:
    """An order's own stream only: the path's id has no key-space separator, and the stream must
    begin with that customer's ORDER_CREATED (a user's or a product's stream is not an order's)."""
    who = signed_in()
    events = store().load(path_id(order_id))
    if not events or events[0].eventType != EventType.ORDER_CREATED or events[0].payload.customerId != who.user_id:
        raise OrderNotFound(order_id)
    body = {"orderId": order_id, "events": [e.to_detail() for e in events]}
    return json_response(HTTPStatus.OK, body, who.correlation_id)


handler = api_handler(app, before=lambda context: idempotency_config().register_lambda_context(context))
