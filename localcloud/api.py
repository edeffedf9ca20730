"""JSON requests to the deployed API, for the benchmark, the chaos suite and the end-to-end
tests, through the door each route has (infra/consumers.py): a customer route with the
customer's ID token, a staff route signed with SigV4 (IAM). `api(method, path, body)` returns
the JSON of a 2xx and raises otherwise (a 429, the stage's throttling, is retried after a
growing pause, as the AWS SDKs do); `api.send(...)` returns the status and body, whatever they
are, and `auth=` sends a request through the other door (or none), as an attacker would."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def session_for(env: dict[str, str] | None) -> boto3.Session:
    """With the key pair of `env` (the local cloud's), or else the caller's own credentials."""
    if not env:
        return boto3.Session()
    return boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_REGION"),
    )


class Signer:
    """Signs a request as API Gateway's IAM authorization expects."""

    def __init__(self, env: dict[str, str] | None = None):
        session = session_for(env)
        self._credentials, self._region = session.get_credentials(), session.region_name or "us-east-1"

    def headers(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self._credentials, "execute-api", self._region).add_auth(request)
        return dict(request.headers)


TOKEN, SIGV4, NONE = "token", "sigv4", "none"


def _customer_routes() -> list[re.Pattern[str]]:
    from infra.consumers import HTTP_SERVICES, Door

    return [
        re.compile("^" + re.sub(r"\{[^}]+\}", "[^/?]+", path) + r"(\?.*)?$")
        for service in HTTP_SERVICES
        if service.door is Door.CUSTOMER
        for _, path in service.routes
    ]


class Api:
    def __init__(self, base_url: str, env: dict[str, str] | None = None, *, token: str | None = None):
        self.base_url = base_url
        self._env = env
        self._signer = Signer(env)
        self.token = token
        self._customer_routes = _customer_routes()

    def as_customer(self, token: str) -> Api:
        """The same API, with this customer's ID token on the customer routes."""
        return Api(self.base_url, self._env, token=token)

    def door(self, path: str) -> str:
        """How a request to this path authenticates: the customer's token on a customer route."""
        return TOKEN if any(route.match(path) for route in self._customer_routes) else SIGV4

    THROTTLED_RETRIES = 8

    def __call__(self, method: str, path: str, body=None) -> dict:
        answer = self.send(method, path, body)
        for attempt in range(self.THROTTLED_RETRIES):
            if answer.status != 429:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
            answer = self.send(method, path, body)
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {answer.body}")
        return answer.body

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
        auth: str | None = None,
    ) -> Answer:
        """One request; `raw` sends bytes as they are (invalid JSON included). Connection
        errors raise OSError (urllib.error.URLError is one)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        url = self.base_url + path
        sent = {"Content-Type": "application/json", **(headers or {})}
        auth = auth or self.door(path)
        if auth == TOKEN:
            if self.token is None:
                raise ValueError(f"{method} {path} is a customer route: Api(..., token=) or api.as_customer(token)")
            sent["Authorization"] = self.token
        elif auth == SIGV4:
            sent = self._signer.headers(method, url, data, sent)
        prepared = urllib.request.Request(url, data=data, method=method, headers=sent)
        try:
            with urllib.request.urlopen(prepared, timeout=timeout) as response:
                status, content, answered = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, content, answered = error.code, error.read(), error.headers
        try:
            parsed = json.loads(content) if content else None
        except json.JSONDecodeError:
            parsed = content.decode(errors="replace")
        return Answer(status, parsed, dict(answered))


class SigV4(requests.auth.AuthBase):
    """`requests` auth that signs each request as API Gateway's IAM authorization expects."""

    def __init__(self, env: dict[str, str] | None = None):
        self._signer = Signer(env)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):
            raise TypeError("a streamed body cannot be signed here: send bytes or text")
        request.headers.update(
            self._signer.headers(
                str(request.method),
                str(request.url),
                body,
                {
                    k: v if isinstance(v, str) else v.decode()
                    for k, v in request.headers.items()
                    if k.lower() != "connection"
                },
            )
        )
        return request
