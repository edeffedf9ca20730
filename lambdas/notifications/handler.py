"""Lambda: USER_REGISTERED and ORDER_* events to emails, once per event."""

from functools import cache

from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadTable, ReadWriteTable, SenderAddress
from eventstore.store import EventStore
from notifications.mailer import Mailer


class Settings(FunctionSettings):
    email_log_table_name: ReadWriteTable
    email_sender: SenderAddress
    event_store_table_name: ReadTable


@cache
def mailer() -> Mailer:
    settings = Settings.current()
    return Mailer(settings.email_log_table_name, settings.email_sender, EventStore(settings.event_store_table_name))


handler = EventConsumer(lambda event: mailer().handle(event)).handler
