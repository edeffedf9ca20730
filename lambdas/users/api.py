"""Lambda: the users HTTP API, for the signed-in customer (a Cognito ID token).

POST /users          register the customer's profile {name}: 201 with userId (the token's
                     subject); the address is the one they signed up with (the token's email);
                     409 when already registered, or when the address belongs to another user
GET  /users/{id}     the customer's own registration ("me" or their userId); anyone else's is 404
"""

import re
from functools import cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from catalog.types import EMAIL_PATTERN
from common.api import api_handler, customer, customer_claims, path_id, resolver
from common.http import bad_request, json_response, parse_body
from common.settings import CustomersAppClientId, FunctionSettings, ReadWriteTable, WriteTable
from eventstore.store import EventStore
from users.service import AlreadyRegistered, EmailTaken, UserNotFound, UserService

app = resolver(
    {EmailTaken: HTTPStatus.CONFLICT, AlreadyRegistered: HTTPStatus.CONFLICT, UserNotFound: HTTPStatus.NOT_FOUND}
)


_EMAIL = re.compile(EMAIL_PATTERN)


class RegisterUser(BaseModel):
    # No email and no id: both are the token's, which Cognito verified at sign-up.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable
    user_emails_table_name: WriteTable
    customers_app_client_id: CustomersAppClientId


@cache
def users() -> UserService:
    settings = Settings.current()
    return UserService(EventStore(settings.event_store_table_name), settings.user_emails_table_name)


@app.post("/users")
def register() -> Response:
    who = customer(app, Settings.current().customers_app_client_id)
    body = parse_body(app.current_event.body, RegisterUser)
    claims = customer_claims(app.current_event.raw_event) or {}
    email = claims.get("email", "").strip()
    if not _EMAIL.match(email):
        raise bad_request("email", "the sign-in has no usable email address: sign up with one")
    # An address changed in the pool is in the token before its owner confirms it: only a
    # verified one is the customer's to claim, and to have the platform's mail sent to.
    if claims.get("email_verified") != "true":
        raise bad_request("email", "the sign-in's email address is not verified yet: confirm it with its code first")
    event = users().register(user_id=who.user_id, email=email, name=body.name, caller=who)
    return json_response(
        HTTPStatus.CREATED,
        {"userId": event.payload.userId, "eventId": str(event.eventId)},
        who.correlation_id,
        Location=f"/users/{event.payload.userId}",
    )


@app.get("/users/<user_id>")
def get_user(user_id: str) -> Response:
    who = customer(app, Settings.current().customers_app_client_id)
    wanted = who.user_id if user_id == "me" else path_id(user_id)
    if wanted != who.user_id:
        raise UserNotFound(wanted)  # someone else's profile: as if there were none
    user = users().get(wanted)
    return json_response(HTTPStatus.OK, user.model_dump(mode="json"), who.correlation_id)


handler = api_handler(app)
