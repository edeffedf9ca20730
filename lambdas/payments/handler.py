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
def provider() -> PaymentProvider:
    settings = Settings.current()
    return PaymentProvider(EventStore(settings.event_store_table_name), CardNetwork(limit=settings.payment_limit))


# Exactly once by the network's idempotency key (no second charge) and the payment's own stream
# (no second answer): no idempotency record.
handler = EventConsumer(lambda event: provider().handle(event)).handler
