"""What every HTTP API function shares: the resolver with JSON errors, who is calling, and the
Lambda entry point that logs under the request's correlation id.

Two doors (infra/consumers.py `Door`): a customer route is behind the customers' user pool, and
the caller is the ID token's subject (`customer`); a staff route is behind IAM, and the caller
is the signing principal (`caller`)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import ClientError

from catalog import Caller
from catalog.types import CALLER_ID_PATTERN
from common import clients
from common.http import ApiError, bad_request, correlation_id_from, json_response
from common.observability import log_context, logger
from common.tracing import traced_handler

_CALLER_ID = re.compile(CALLER_ID_PATTERN)


def resolver(errors: dict[type[Exception], HTTPStatus] | None = None) -> APIGatewayRestResolver:
    """A REST resolver whose ApiErrors, and the domain errors mapped here, answer as JSON."""
    app = APIGatewayRestResolver()

    @app.exception_handler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error.to_response(logger.get_correlation_id())

    @app.exception_handler(ClientError)
    def _busy(error: ClientError) -> Response:
        """An AWS call throttled past the SDK's retries: the caller can try later, so it is told
        to (503 with Retry-After), rather than meeting a 502 as for a fault of ours."""
        code = clients.throttled(error)
        if code is None:
            raise error  # a fault of ours: the invocation fails, and the log says why
        logger.warning("throttled past the SDK's retries", extra={"code": code})
        body = {"message": f"the platform is busy ({code}): send the request again, with the same Idempotency-Key"}
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, body, logger.get_correlation_id(), **{"Retry-After": "1"})

    for error_type, status in (errors or {}).items():
        app.exception_handler(error_type)(_as(status))
    return app


def _as(status: HTTPStatus) -> Callable[[Exception], Response]:
    def render(error: Exception) -> Response:
        extra = {"currentVersion": error.version} if hasattr(error, "version") else {}
        return ApiError(status, str(error), **extra).to_response(logger.get_correlation_id())

    return render


def caller(app: APIGatewayRestResolver) -> Caller:
    """Whoever signed a staff route's request (its IAM principal): what its events' metadata says."""
    context = app.current_event.request_context
    principal = (context.authorizer.principal_id if context.authorizer else None) or (
        context.identity.user if context.identity else None
    )
    return Caller(user_id=_safe_id(principal) or "anonymous", correlation_id=logger.get_correlation_id() or "unknown")


class NotSignedIn(ApiError):
    def __init__(self) -> None:
        super().__init__(HTTPStatus.UNAUTHORIZED, "sign in: this route takes the customer's ID token (Authorization)")


def customer_claims(event: dict) -> dict[str, str] | None:
    """The verified claims of a customer route's ID token, as API Gateway's Cognito authorizer
    passes them (None on a staff route)."""
    claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims")
    return claims if isinstance(claims, dict) and claims.get("sub") else None


def customer(app: APIGatewayRestResolver, app_client_id: str) -> Caller:
    """The signed-in customer: the subject of the ID token the authorizer verified (signature,
    issuer, expiry). Only an ID token of the platform's own app client names a customer: an
    access token, or one another client of the pool was issued, is refused here, as a REST
    authorizer does not check the audience itself."""
    claims = customer_claims(app.current_event.raw_event)
    if claims is None or claims.get("token_use") != "id" or claims.get("aud") != app_client_id:
        raise NotSignedIn()
    subject = claims["sub"]
    if not _CALLER_ID.match(subject):
        raise NotSignedIn()
    return Caller(user_id=subject, correlation_id=logger.get_correlation_id() or "unknown")


def scoped_correlation_id(supplied: str, subject: str) -> str:
    """A customer's own X-Correlation-Id, tagged with who sent it: a customer cannot add events
    to another's conversation (or to staff's) by sending its id. The tag is a digest of the
    subject, not the subject itself, since correlation ids are logged."""
    tag = f".c{hashlib.sha256(subject.encode()).hexdigest()[:10]}"
    if supplied.endswith(tag):
        return supplied  # the id the API answered them with, sent back: the same conversation
    return f"{supplied[:53]}{tag}"


def _safe_id(value: str | None) -> str | None:
    if not value:
        return None
    cleaned = "".join(ch if ch.isalnum() or ch in "_.:-" else "-" for ch in value)[:64].lstrip("_.:-")
    return cleaned or None


def path_id(raw: str, field: str = "id", pattern: re.Pattern[str] = _CALLER_ID) -> str:
    """A path parameter that must be a caller's identifier: a 400 naming it otherwise. No ':',
    the event store's separator of key spaces, so that no caller-chosen id names another
    aggregate's stream (payment:..., user:...)."""
    if not pattern.match(raw):
        allowed = "'_', '.', ':' or '-'" if ":" in pattern.pattern else "'_', '.' or '-'"
        raise bad_request(field, f"1-64 letters, digits, {allowed}")
    return raw


def api_handler(app: APIGatewayRestResolver, before: Callable[[Any], None] | None = None):
    """The Lambda entry point for a resolver: correlation id from X-Correlation-Id (or the
    request id), Powertools logging and tracing, then routing."""

    @log_context
    @traced_handler
    def handler(event: dict, context) -> dict:
        request_id = (event.get("requestContext") or {}).get("requestId") or context.aws_request_id
        correlation_id = correlation_id_from(event.get("headers"), request_id)
        claims = customer_claims(event)
        if claims is not None and correlation_id != request_id:
            correlation_id = scoped_correlation_id(correlation_id, claims["sub"])
        logger.set_correlation_id(correlation_id)
        if before:
            before(context)
        return app.resolve(event, context)

    return handler
