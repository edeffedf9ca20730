"""Customers of a deployment, as the user pool knows them: sign one up, confirm them, sign them
in, and keep their ID token, for the end-to-end tests, the chaos suite, the benchmark and
`make up`'s how-to. It works the same on AWS (with credentials that may confirm a sign-up)."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Any

from localcloud.api import session_for

# The user pool's password policy (infra/constructs/customer_pool.py): 12 characters, each class.
PASSWORD_PREFIX = "Aa1!"
# `make token`'s test customers, on the local cloud only: a known password, so that a second
# `make token` signs the same customer in again.
TEST_PASSWORD = "Local-cloud-customer-1"


@dataclass(frozen=True)
class Customer:
    email: str
    password: str
    id_token: str

    @property
    def claims(self) -> dict[str, Any]:
        """The ID token's claims (not verified here: the API's authorizer does that)."""
        payload = self.id_token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

    @property
    def id(self) -> str:
        """The customer's id on the platform: the token's subject."""
        return self.claims["sub"]


class Customers:
    """Signs customers up to the pool named by the stacks' outputs (UserPoolId, UserPoolClientId)."""

    def __init__(self, outputs: Any, env: dict[str, str] | None = None, endpoint: str | None = None):
        self.pool_id = outputs["UserPoolId"]
        self.client_id = outputs["UserPoolClientId"]
        kwargs = {"endpoint_url": endpoint} if endpoint else {}
        self._cognito = session_for(env).client("cognito-idp", **kwargs)

    def sign_up(self, email: str, password: str | None = None) -> Customer:
        """A new customer: signed up, confirmed with their address verified (as the emailed code
        would: AdminConfirmSignUp alone leaves email_verified false on AWS, and the API takes only
        a verified address), and signed in."""
        password = password or PASSWORD_PREFIX + secrets.token_urlsafe(12)
        self._cognito.sign_up(
            ClientId=self.client_id,
            Username=email,
            Password=password,
            UserAttributes=[{"Name": "email", "Value": email}],
        )
        self._cognito.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=email)
        self._cognito.admin_update_user_attributes(
            UserPoolId=self.pool_id, Username=email, UserAttributes=[{"Name": "email_verified", "Value": "true"}]
        )
        return self.sign_in(email, password)

    def token_for(self, email: str, password: str) -> str:
        """The customer's ID token: signed in, or signed up first if the pool does not know them."""
        try:
            return self.sign_in(email, password).id_token
        except self._cognito.exceptions.UserNotFoundException:
            return self.sign_up(email, password).id_token
        except self._cognito.exceptions.NotAuthorizedException:
            # prevent_user_existence_errors: an unknown user answers as a wrong password does
            return self.sign_up(email, password).id_token

    def sign_in(self, email: str, password: str) -> Customer:
        answer = self._cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return Customer(email=email, password=password, id_token=answer["AuthenticationResult"]["IdToken"])
