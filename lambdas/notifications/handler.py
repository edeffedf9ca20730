"""Lambda: USER_REGISTERED and ORDER_* events to emails, once per event."""

from __future__ import annotations

from functools import cache

from common.consumer import EventConsumer
from common.settings import setting
from eventstore.store import EventStore
from notifications.mailer import Mailer


@cache
def mailer() -> Mailer:
    return Mailer(setting("EMAIL_LOG_TABLE_NAME"), setting("EMAIL_SENDER"), EventStore(setting("EVENT_STORE_TABLE_NAME")))


handler = EventConsumer(lambda event: mailer().handle(event)).handler
