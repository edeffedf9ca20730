"""Lambda: GET /audit/{correlationId}, one conversation's events and who caused what."""

import re
from functools import cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from audit.log import AuditLog
from catalog.types import IDENTIFIER_PATTERN
from common.api import api_handler, caller, path_id, resolver
from common.http import ApiError, json_response
from common.settings import FunctionSettings, ReadTable

# A staff route: any correlation id the platform issues, ':' included (the saga's are).
_CORRELATION_ID = re.compile(IDENTIFIER_PATTERN)

app = resolver()


class Settings(FunctionSettings):
    audit_table_name: ReadTable


@cache
def audit_log() -> AuditLog:
    return AuditLog(Settings.current().audit_table_name)


@app.get("/audit/<correlation_id>")
def chain(correlation_id: str) -> Response:
    entries = audit_log().chain(path_id(correlation_id, "correlationId", _CORRELATION_ID))
    if not entries:
        raise ApiError(HTTPStatus.NOT_FOUND, f"no events with correlation id {correlation_id}")
    ids = {e["eventId"] for e in entries}
    edges = [{"from": e["causationId"], "to": e["eventId"]} for e in entries if e["causationId"] in ids]
    body = {"correlationId": correlation_id, "events": entries, "causedBy": edges}
    return json_response(HTTPStatus.OK, body, caller(app).correlation_id)


handler = api_handler(app)
