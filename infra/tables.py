"""Every DynamoDB table, declared once: the stateful stack builds them from here, and the handler
tests and the operations tools create the same tables (keys, index, stream) in moto or a
scratch copy. Plain Python: no CDK import.

A function uses a table through a settings field named after the table's key
(`event_store` -> `event_store_table_name`, lambdas/common/settings.py); the stack's output
is the key in CamelCase (`EventStoreTableName`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str = "S"  # S or N


@dataclass(frozen=True)
class KeysOnlyIndex:
    name: str
    partition: Attribute


@dataclass(frozen=True)
class TableSpec:
    key: str
    logical_id: str  # pinned: a new logical id would replace (and empty) the table
    partition: Attribute
    sort: Attribute | None = None
    stream: bool = False  # NEW_IMAGE
    time_to_live: str | None = None
    index: KeysOnlyIndex | None = None
    # Its items are put once, if absent, and never updated or deleted: a function that writes it
    # is granted PutItem alone, and its reads are by key and by partition (GetItem, Query).
    append_only: bool = False

    @property
    def output(self) -> str:
        """The stack output naming the deployed table."""
        return "".join(part.title() for part in self.key.split("_")) + "TableName"

    def create_table(self, table_name: str) -> dict:
        """CreateTable's parameters for a table of this shape (moto, scratch tables)."""
        keys = [(self.partition, "HASH")] + ([(self.sort, "RANGE")] if self.sort else [])
        attributes = {attribute for attribute, _ in keys} | ({self.index.partition} if self.index else set())
        request: dict = {
            "TableName": table_name,
            "KeySchema": [{"AttributeName": a.name, "KeyType": kind} for a, kind in keys],
            "AttributeDefinitions": [
                {"AttributeName": a.name, "AttributeType": a.type} for a in sorted(attributes, key=lambda a: a.name)
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if self.stream:
            request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        if self.index:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": self.index.name,
                    "KeySchema": [{"AttributeName": self.index.partition.name, "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ]
        return request


# Source of truth: every event of every aggregate, streamed to the publisher (the outbox).
EVENT_STORE = TableSpec(
    "event_store", "EventStore", Attribute("aggregateId"), Attribute("version", "N"), stream=True, append_only=True
)
# Powertools idempotency records of POST /orders (its Idempotency-Key); consumers keep none.
IDEMPOTENCY = TableSpec("idempotency", "IdempotencyRecords", Attribute("id"), time_to_live="expiration")
# The orders read model (CQRS query side). Sparse index: only pending orders carry pendingSince
# (when they were placed; it never changes while they wait), so the saga's timeout sweep reads
# only those, and an order's index entry is written once, placed, and deleted once, settled.
ORDERS = TableSpec(
    "orders", "OrdersReadModel", Attribute("orderId"), index=KeysOnlyIndex("pending", Attribute("pendingSince"))
)
# One claim an address, put once by the registration that takes it: never moved to another user.
USER_EMAILS = TableSpec("user_emails", "UserEmails", Attribute("email"), append_only=True)
INVENTORY = TableSpec("inventory", "Inventory", Attribute("productId"))
EMAIL_LOG = TableSpec("email_log", "EmailLog", Attribute("id"))
# Each call Payments makes to the card network, recorded before it is made (its key, the request,
# when): a request that comes back unanswered is called again only while the network remembers
# the key (lambdas/payments/provider.py).
PAYMENT_CALLS = TableSpec("payment_calls", "PaymentCalls", Attribute("key"), append_only=True)
# The simulated card network's own memory, standing in for the provider's side: each key it
# answered, when and how, and the money it moved under it (lambdas/payments/provider.py). Shared by
# every container of Payments, as a provider's memory is by every caller; it forgets a key by age.
CARD_NETWORK = TableSpec("card_network", "SimulatedCardNetwork", Attribute("key"))
# The day's counters, a lane an item, and each folded batch's receipt, kept two days.
ANALYTICS = TableSpec("analytics", "AnalyticsDaily", Attribute("pk"), time_to_live="expiresAt")
# One marker an event counted, spread over a few lanes; its stream is folded into the day's
# counters a batch at a time (lambdas/analytics/counters.py).
ANALYTICS_EVENTS = TableSpec(
    "analytics_events", "AnalyticsEvents", Attribute("lane"), Attribute("eventId"), stream=True
)
# Every event once, by its conversation: the audit function may add to it, never change or delete it.
AUDIT = TableSpec("audit", "AuditLog", Attribute("correlationId"), Attribute("at"), append_only=True)

TABLES: dict[str, TableSpec] = {
    spec.key: spec
    for spec in (
        EVENT_STORE,
        IDEMPOTENCY,
        ORDERS,
        USER_EMAILS,
        INVENTORY,
        EMAIL_LOG,
        PAYMENT_CALLS,
        CARD_NETWORK,
        ANALYTICS,
        ANALYTICS_EVENTS,
        AUDIT,
    )
}
