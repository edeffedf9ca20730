"""Build API Gateway (REST, proxy integration) events and call an API handler, as a signed-in
customer (the claims the Cognito authorizer passes) or as a staff IAM principal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str]


CUSTOMER = "cust-1"  # the signed-in customer of a handler test, unless it names another


def claims(subject: str = CUSTOMER, **changes: str) -> dict[str, str]:
    """An ID token's claims as API Gateway's Cognito authorizer hands them to the function."""
    from tests.support.aws import APP_CLIENT

    return {
        "sub": subject,
        "token_use": "id",
        "aud": APP_CLIENT,
        "email": f"{subject}@example.com",
        "email_verified": "true",
        "cognito:username": subject,
        **changes,
    }


def call(
    handler,
    context,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    customer: str | dict[str, str] | None = CUSTOMER,
) -> ApiResponse:
    """One request; `customer` is the signed-in customer's subject (or their whole claims), None
    for a staff route's IAM caller."""
    event = proxy_event(method, path, body, headers, raw_body, query)
    if customer is not None:
        event["requestContext"]["authorizer"] = {"claims": claims(customer) if isinstance(customer, str) else customer}
    response = handler(event, context)
    text = response.get("body") or "null"
    headers = dict(response.get("headers") or {})
    headers.update({name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()})
    return ApiResponse(response["statusCode"], json.loads(text), headers)


def proxy_event(
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
) -> dict:
    """The event API Gateway (REST, proxy integration) gives the function for one request."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/dev{path}",
            "stage": "dev",
            "requestId": "req-0001",
            "identity": {"sourceIp": "127.0.0.1", "user": None},
            "accountId": "123456789012",
            "apiId": "test",
        },
        "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
        "isBase64Encoded": False,
    }
