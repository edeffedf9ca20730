"""SigV4-signed JSON requests to the deployed API (every route needs IAM), for the benchmark
and the chaos suite: `api(method, path, body)` returns the JSON of a 2xx and raises otherwise
(a 429, the stage's throttling, is retried after a growing pause, as the AWS SDKs do);
`api.send(...)` returns the status and body, whatever they are."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


@dataclass
class Answer:
    status: int
    body: Any


class Api:
    def __init__(self, base_url: str, env: dict[str, str]):
        self.base_url = base_url
        self._credentials = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]).get_credentials()

    THROTTLED_RETRIES = 8

    def __call__(self, method: str, path: str, body=None) -> dict:
        answer = self.send(method, path, body)
        for attempt in range(self.THROTTLED_RETRIES):
            if answer.status != 429:
                break
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
            answer = self.send(method, path, body)
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"{method} {path} answered {answer.status}: {answer.body}")
        return answer.body

    def send(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, timeout: float = 60) -> Answer:
        """One request; `raw` sends bytes as they are (invalid JSON included). Connection
        errors raise OSError (urllib.error.URLError is one)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = AWSRequest(method=method, url=self.base_url + path, data=data,
                             headers={"Content-Type": "application/json", **(headers or {})})
        SigV4Auth(self._credentials, "execute-api", "us-east-1").add_auth(request)
        prepared = urllib.request.Request(self.base_url + path, data=data, method=method, headers=dict(request.headers))
        try:
            with urllib.request.urlopen(prepared, timeout=timeout) as response:
                status, content = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, content = error.code, error.read()
        try:
            parsed = json.loads(content) if content else None
        except json.JSONDecodeError:
            parsed = content.decode(errors="replace")
        return Answer(status, parsed)


class SigV4(requests.auth.AuthBase):
    """`requests` auth that signs each request as API Gateway's IAM authorization expects."""

    def __init__(self, env: dict[str, str] | None = None):
        """With the key pair of `env` (the local cloud's), or else the caller's own credentials."""
        keys = ({"aws_access_key_id": env["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"]}
                if env else {})
        self._credentials = boto3.Session(**keys).get_credentials()

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        signed = AWSRequest(method=request.method, url=request.url, data=request.body,
                            headers={k: v for k, v in request.headers.items() if k.lower() != "connection"})
        SigV4Auth(self._credentials, "execute-api", "us-east-1").add_auth(signed)
        request.headers.update(dict(signed.headers))
        return request
