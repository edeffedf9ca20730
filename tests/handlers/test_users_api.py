"""The users API: a signed-in customer registers their profile (USER_REGISTERED, through the
store), as the user their token names, with the address they signed up with; one user per email."""

from __future__ import annotations

import json

import pytest

from tests.support import aws
from tests.support.api import call, claims


@pytest.fixture
def api(tables, lambda_context):
    from users.api import handler

    return lambda method, path, **kw: call(handler, lambda_context, method, path, **kw)


def ada(**changes: str) -> dict[str, str]:
    return claims("sub-ada", email="ada@example.com", **changes)


def test_registering_appends_user_registered_in_the_users_key_space_and_claims_the_email(api, store):
    response = api("POST", "/users", body={"name": "Ada Lovelace"}, customer=ada())
    assert response.status == 201
    assert response.body["userId"] == "sub-ada"  # the token's subject, not an id of the body's
    [event] = store.load("user:sub-ada")
    assert event.eventType == "USER_REGISTERED"
    assert (event.payload.userId, event.payload.email, event.payload.name) == (
        "sub-ada",
        "ada@example.com",
        "Ada Lovelace",
    )
    assert store.load("sub-ada") == []  # nothing under the bare id a product or an order could take
    assert api("GET", "/users/sub-ada", customer=ada()).body["email"] == "ada@example.com"
    assert api("GET", "/users/me", customer=ada()).body["name"] == "Ada Lovelace"


def test_registering_twice_is_a_409_and_writes_nothing_more(api):
    assert api("POST", "/users", body={"name": "Ada"}, customer=ada()).status == 201
    again = api("POST", "/users", body={"name": "Ada again"}, customer=ada())
    assert again.status == 409
    assert "already registered" in again.body["message"]
    assert aws.item_count(aws.EVENT_STORE) == 1


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@Example.com", " ada@example.com "])
def test_an_email_registers_once_whatever_its_case(api, email):
    assert api("POST", "/users", body={"name": "Ada"}, customer=ada()).status == 201
    again = api("POST", "/users", body={"name": "Impostor"}, customer=claims("sub-eve", email=email))
    assert again.status == 409
    assert "already registered" in again.body["message"]
    assert "@" not in json.dumps(again.body)  # the answer names the field, never the address
    assert aws.item_count(aws.EVENT_STORE) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "x", "admin": True}, "admin"),
        ({"name": "x", "email": "eve@example.com"}, "email"),  # the address is the sign-in's, never the body's
        ({"name": "x", "userId": "sub-victim"}, "userId"),
    ],
)
def test_invalid_registrations_are_400_naming_the_field_and_write_nothing(api, body, field):
    response = api("POST", "/users", body=body, customer=ada())
    assert response.status == 400
    assert field in [e["field"] for e in response.body["errors"]]
    assert aws.item_count(aws.EVENT_STORE) == aws.item_count(aws.USER_EMAILS) == 0


def test_a_sign_in_without_an_address_cannot_register(api):
    response = api("POST", "/users", body={"name": "x"}, customer=claims("sub-x", email="not-an-email"))
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "email"
    assert "not-an-email" not in str(response.body)


def test_an_address_the_pool_has_not_verified_registers_nobody(api):
    """A signed-in customer who changes their pool email to someone else's (UpdateUserAttributes,
    before confirming it) has a token with email_verified "false": that address is not theirs to
    take, nor to have the platform's mail sent to."""
    eve = claims("sub-eve", email="ada@example.com", email_verified="false")
    response = api("POST", "/users", body={"name": "Eve"}, customer=eve)
    assert response.status == 400
    assert response.body["errors"][0]["field"] == "email"
    assert "ada@example.com" not in str(response.body)
    assert aws.item_count(aws.EVENT_STORE) == aws.item_count(aws.USER_EMAILS) == 0
    assert api("POST", "/users", body={"name": "Ada"}, customer=ada()).status == 201  # hers to register


def test_an_unregistered_customer_is_404(api):
    assert api("GET", "/users/me", customer=ada()).status == 404


def test_another_customers_profile_is_404_as_if_there_were_none(api):
    assert api("POST", "/users", body={"name": "Ada"}, customer=ada()).status == 201
    probe = api("GET", "/users/sub-ada", customer=claims("sub-eve"))
    assert probe.status == 404
    assert "ada@example.com" not in str(probe.body)
    assert api("GET", "/users/sub-nobody", customer=claims("sub-eve")).status == 404  # the same answer


@pytest.mark.parametrize("token", [{"token_use": "access"}, {"aud": "another-app-client"}])
def test_only_an_id_token_of_the_platforms_app_client_names_a_customer(api, token):
    response = api("POST", "/users", body={"name": "Ada"}, customer=ada(**token))
    assert response.status == 401
    assert aws.item_count(aws.EVENT_STORE) == 0
