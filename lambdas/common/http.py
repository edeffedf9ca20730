"""HTTP plumbing shared by the APIs: JSON bodies, field-level 4xx errors, correlation ids."""

import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import BaseModel, ValidationError

from catalog.errors import problems

M = TypeVar("M", bound=BaseModel)

MAX_BODY_BYTES = 64 * 1024
CORRELATION_HEADER = "X-Correlation-Id"
_CORRELATION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class ApiError(Exception):
    """An error the client can fix or must know about; rendered as JSON with its status."""

    def __init__(self, status: HTTPStatus, message: str, errors: list[dict[str, str]] | None = None, **extra: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.extra = extra

    def to_response(self, correlation_id: str | None = None) -> Response:
        body: dict[str, Any] = {"message": self.message, **self.extra}
        if self.errors:
            body["errors"] = self.errors
        return json_response(self.status, body, correlation_id)


def bad_request(field: str, message: str) -> ApiError:
    return ApiError(HTTPStatus.BAD_REQUEST, f"invalid {field}: {message}", [{"field": field, "message": message}])


def field_errors(error: ValidationError, prefix: str = "") -> ApiError:
    """A pydantic error as a 400 naming each field at fault (items.0.price, ...), and never its
    value (catalog/errors.py): a body may hold a customer's address, and answers get logged."""
    errors = [{"field": f"{prefix}{path or 'body'}", "message": message} for path, message in problems(error)]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ApiError(HTTPStatus.BAD_REQUEST, f"invalid request: {summary}", errors)


def parse_body(raw: str | None, model: type[M]) -> M:
    """Parse and validate a JSON request body; every failure is a 400 that names the field."""
    if raw is None or raw == "":
        raise bad_request("body", "a JSON object is required")
    if len(raw.encode()) > MAX_BODY_BYTES:
        raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        raise bad_request("body", f"not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(data, dict):
        raise bad_request("body", "a JSON object is required")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise field_errors(error) from None


def correlation_id_from(headers: Mapping[str, str] | None, fallback: str) -> str:
    """The caller's correlation id (header name in any case) when well-formed, else ours."""
    wanted = CORRELATION_HEADER.lower()
    supplied = next((value for name, value in (headers or {}).items() if name.lower() == wanted), None)
    return supplied if supplied and _CORRELATION_ID.match(supplied) else fallback


def json_response(status: HTTPStatus, body: Any, correlation_id: str | None = None, **headers: str) -> Response:
    all_headers = dict(headers)
    if correlation_id:
        all_headers[CORRELATION_HEADER] = correlation_id
    return Response(
        status_code=int(status),
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, separators=(",", ":")),
        headers=all_headers,
    )
