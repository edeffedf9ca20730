"""Lambda: GET /analytics/daily?date=YYYY-MM-DD, the counters of one UTC day."""

from datetime import date
from functools import cache
from http import HTTPStatus

from aws_lambda_powertools.event_handler import Response

from analytics.counters import DailyCounters
from common.api import api_handler, caller, resolver
from common.http import bad_request, json_response
from common.settings import FunctionSettings, ReadTable

app = resolver()


class Settings(FunctionSettings):
    analytics_table_name: ReadTable


@cache
def counters() -> DailyCounters:
    return DailyCounters(Settings.current().analytics_table_name)


@app.get("/analytics/daily")
def daily() -> Response:
    raw = app.current_event.get_query_string_value("date", "") or ""
    try:
        day = date.fromisoformat(raw) if len(raw) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise bad_request("date", "a day as YYYY-MM-DD is required")
    return json_response(HTTPStatus.OK, counters().day(day.isoformat()), caller(app).correlation_id)


handler = api_handler(app)
