"""The users API: registration publishes USER_REGISTERED through the store, one user per email."""

from __future__ import annotations

import pytest

from tests.support import aws
from tests.support.api import call


@pytest.fixture
def api(tables, lambda_context):
    from users.api import handler

    return lambda method, path, **kw: call(handler, lambda_context, method, path, **kw)


def test_registering_appends_user_registered_and_claims_the_email(api, store):
    response = api("POST", "/users", body={"email": "ada@example.com", "name": "Ada Lovelace"})
    assert response.status == 201
    user_id = response.body["userId"]
    [event] = store.load(user_id)
    assert event.eventType == "USER_REGISTERED"
    assert (event.payload.email, event.payload.name) == ("ada@example.com", "Ada Lovelace")
    assert api("GET", f"/users/{user_id}").body["email"] == "ada@example.com"


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@Example.com", " ada@example.com "])
def test_an_email_registers_once_whatever_its_case(api, email):
    assert api("POST", "/users", body={"email": "ada@example.com", "name": "Ada"}).status == 201
    again = api("POST", "/users", body={"email": email, "name": "Impostor"})
    assert again.status == 409
    assert "already registered" in again.body["message"]
    assert aws.item_count(aws.EVENT_STORE) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email", "name": "x"}, "email"),
        ({"email": "a@b", "name": "x"}, "email"),
        ({"email": "ada@example.com", "name": ""}, "name"),
        ({"email": "ada@example.com"}, "name"),
        ({"email": "ada@example.com", "name": "x", "admin": True}, "admin"),
    ],
)
def test_invalid_registrations_are_400_naming_the_field_and_write_nothing(api, body, field):
    response = api("POST", "/users", body=body)
    assert response.status == 400
    assert field in [e["field"] for e in response.body["errors"]]
    assert aws.item_count(aws.EVENT_STORE) == aws.item_count(aws.USER_EMAILS) == 0


def test_an_unknown_user_is_404(api):
    assert api("GET", "/users/nobody").status == 404
