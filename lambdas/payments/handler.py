"""Lambda: PAYMENT_REQUESTED and PAYMENT_REFUND_REQUESTED into charges and refunds."""

from decimal import Decimal
from functools import cache

from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadWriteTable
from eventstore.store import EventStore
from payments.provider import CardNetwork, PaymentProvider


class Settings(FunctionSettings):
    event_store_table_name: ReadWriteTable
    # The simulated card network declines any charge over it. The stacks leave it to this default.
    payment_limit: Decimal = Decimal("1000.00")


@cache
def event_store() -> EventStore:
    return EventStore(Settings.current().event_store_table_name)


@cache
def provider() -> PaymentProvider:
    return PaymentProvider(event_store(), CardNetwork(limit=Settings.current().payment_limit))


# Exactly once by the network's idempotency key (no second charge) and the payment's own stream
# (no second answer): no idempotency record. Only the saga's own commands, as the event store
# holds them, move money, and by the amount stored there.
handler = EventConsumer(lambda event: provider().handle(event), held_by=event_store).handler
