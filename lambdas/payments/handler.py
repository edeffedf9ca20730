"""Lambda: PAYMENT_REQUESTED and PAYMENT_REFUND_REQUESTED into charges and refunds."""

from decimal import Decimal
from functools import cache

from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadWriteTable
from eventstore.store import EventStore
from payments.provider import KEY_SECONDS, CardNetwork, NetworkMemory, PaymentCalls, PaymentProvider


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable
    payment_calls_table_name: ReadWriteTable
    # The simulated card network's own memory (its keys, and the money moved under them).
    card_network_table_name: ReadWriteTable
    # The simulated card network declines any charge over it (in euros; about as much in the other
    # currencies it takes: provider.CARD_LIMIT_RATES). The stacks leave it to this default.
    payment_limit: Decimal = Decimal("1000.00")
    # How long the simulated network remembers an idempotency key (Stripe's 24 hours); a test
    # shortens it to see a key forgotten.
    card_network_key_seconds: int = KEY_SECONDS


@cache
def event_store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


@cache
def provider() -> PaymentProvider:
    settings = Settings.current()
    network = CardNetwork(
        limit=settings.payment_limit,
        memory=NetworkMemory(settings.card_network_table_name),
        key_seconds=settings.card_network_key_seconds,
    )
    return PaymentProvider(event_store(), network, PaymentCalls(settings.payment_calls_table_name))


# At most one call to the network a request (an answered request is not called again, and a
# call is recorded before it is made), one answer a request (the payment's own stream). Only the
# saga's own commands, as the event store holds them, move money, and by the amount stored there.
handler = EventConsumer(lambda event: provider().handle(event), held_by=event_store).handler
