"""Lambda: PAYMENT_REQUESTED and PAYMENT_REFUND_REQUESTED into charges and refunds."""

from __future__ import annotations

import os
from decimal import Decimal
from functools import cache

from common.consumer import EventConsumer
from common.settings import setting
from eventstore.store import EventStore
from payments.provider import CardNetwork, PaymentProvider


@cache
def provider() -> PaymentProvider:
    network = CardNetwork(limit=Decimal(os.environ.get("PAYMENT_LIMIT", "1000.00")))
    return PaymentProvider(EventStore(setting("EVENT_STORE_TABLE_NAME")), network)


# Exactly once by the network's idempotency key (no second charge) and the payment's own stream
# (no second answer): no idempotency record.
handler = EventConsumer(lambda event: provider().handle(event)).handler
