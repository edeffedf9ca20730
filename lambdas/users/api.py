"""Lambda: the users HTTP API.

POST /users          register {email, name}: 201 with userId; 409 when the email is taken
GET  /users/{id}     the registration
"""

from functools import cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field

from catalog.types import Email
from common.api import api_handler, caller, path_id, resolver
from common.http import json_response, parse_body
from common.settings import FunctionSettings, ReadWriteTable, WriteTable
from eventstore.store import EventStore
from users.service import EmailTaken, UserNotFound, UserService

app = resolver({EmailTaken: HTTPStatus.CONFLICT, UserNotFound: HTTPStatus.NOT_FOUND})


class RegisterUser(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Email
    name: str = Field(min_length=1, max_length=200)


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable
    user_emails_table_name: WriteTable


@cache
def users() -> UserService:
    settings = Settings.current()
    return UserService(EventStore(settings.event_store_table_name), settings.user_emails_table_name)


@app.post("/users")
def register() -> Response:
    who = caller(app)
    body = parse_body(app.current_event.body, RegisterUser)
    event = users().register(email=body.email, name=body.name, caller=who)
    return json_response(
        HTTPStatus.CREATED,
        {"userId": event.aggregateId, "eventId": str(event.eventId)},
        who.correlation_id,
        Location=f"/users/{event.aggregateId}",
    )


@app.get("/users/<user_id>")
def get_user(user_id: str) -> Response:
    user = users().get(path_id(user_id))
    return json_response(HTTPStatus.OK, user.model_dump(mode="json"), caller(app).correlation_id)


handler = api_handler(app)
