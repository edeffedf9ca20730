"""What every HTTP API function shares: the resolver with JSON errors, who is calling, and the
Lambda entry point that logs under the request's correlation id."""

from __future__ import annotations

import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import ClientError

from catalog import Caller
from catalog.types import IDENTIFIER_PATTERN
from common import clients
from common.http import ApiError, bad_request, correlation_id_from, json_response
from common.observability import log_context, logger, tracer

_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def resolver(errors: dict[type[Exception], HTTPStatus] | None = None) -> APIGatewayRestResolver:
    """A REST resolver whose ApiErrors, and the domain errors mapped here, answer as JSON."""
    app = APIGatewayRestResolver()

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error.to_response(logger.get_correlation_id())

    @app.exception_handler(ClientError)
    def _busy(error: ClientError) -> Response:
        code = error.response.get("Error", {}).get("Code", "")
        if code not in THROTTLED:
            raise error  # a fault of ours: the invocation fails, and the log says why
        logger.warning("throttled past the SDK's retries", extra={"code": code})
        body = {"message": f"the platform is busy ({code}): send the request again, with the same Idempotency-Key"}
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, logger.get_correlation_id(), **{"Retry-After": "1"})

    for error_type, status in (errors or {}).items():
        app.exception_handler(error_type)(_as(status))
    return app


# An AWS call throttled past the SDK's retries: the caller can try later, so it is told to (503
# with Retry-After), rather than meeting a 502 as for a fault of ours.
THROTTLED = clients.THROTTLED


def _as(status: HTTPStatus) -> Callable[[Exception], Response]:
    def render(error: Exception) -> Response:
        extra = {"currentVersion": error.version} if hasattr(error, "version") else {}
        return ApiError(status, str(error), **extra).to_response(logger.get_correlation_id())

    return render


def caller(app: APIGatewayRestResolver) -> Caller:
    context = app.current_event.request_context
    # An authorizer's or IAM principal when the API has one; anonymous otherwise.
    principal = (context.authorizer.principal_id if context.authorizer else None) or (
        context.identity.user if context.identity else None
    )
    return Caller(user_id=_safe_id(principal) or "anonymous", correlation_id=logger.get_correlation_id() or "unknown")


def _safe_id(value: str | None) -> str | None:
    if not value:
        return None
    cleaned = "".join(ch if ch.isalnum() or ch in "_.:-" else "-" for ch in value)[:64].lstrip("_.:-")
    return cleaned or None


def path_id(raw: str, field: str = "id") -> str:
    """A path parameter that must be an identifier: a 400 naming it otherwise."""
    if not _IDENTIFIER.match(raw):
        raise bad_request(field, "1-64 letters, digits, '_', '.', ':' or '-'")
    return raw


def api_handler(app: APIGatewayRestResolver, before: Callable[[Any], None] | None = None):
    """The Lambda entry point for a resolver: correlation id from X-Correlation-Id (or the
    request id), Powertools logging and tracing, then routing."""

    @log_context
    @tracer.capture_lambda_handler
    def handler(event: dict, context) -> dict:
        request_id = (event.get("requestContext") or {}).get("requestId") or context.aws_request_id
        logger.set_correlation_id(correlation_id_from(event.get("headers"), request_id))
        if before:
            before(context)
        return app.resolve(event, context)

    return handler
