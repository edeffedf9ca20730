"""Lambda: PAYMENT_REQUESTED and PAYMENT_REFUND_REQUESTED into charges and refunds."""

from __future__ import annotations

import os
from decimal import Decimal
from functools import cache

from common.consumer import EventConsumer
from common.settings import setting
from eventstore.store import EventStore
from payments.provider import PaymentProvider


@cache
def provider() -> PaymentProvider:
    limit = Decimal(os.environ.get("PAYMENT_LIMIT", "1000.00"))
    return PaymentProvider(EventStore(setting("EVENT_STORE_TABLE_NAME")), limit)


# Exactly once by the payment's own stream; the idempotency record stands for the one a real provider
# call outside DynamoDB would need.
handler = EventConsumer(lambda event: provider().handle(event)).handler
