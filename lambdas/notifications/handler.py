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
def event_store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


@cache
def mailer() -> Mailer:
    settings = Settings.current()
    return Mailer(settings.email_log_table_name, settings.email_sender, event_store())


# Only the events the event store holds send mail or set where a customer's mail goes: a forged
# registration would redirect it, a forged cancellation put words in the platform's mouth.
handler = EventConsumer(lambda event: mailer().handle(event), held_by=event_store).handler
