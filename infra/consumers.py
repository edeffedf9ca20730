"""Every function of the platform, declared once: its name, its handler, and what starts it
(a consumer's event types, an API function's routes, a table's stream, a schedule). What it
uses (its tables and how, the bus, its settings) is its handler module's `Settings`
(lambdas/common/settings.py): the stacks derive each function's environment and grants from
the two.

The stateful stack makes one dead-letter queue per consumer, the stateless stack one function
(and rule, or routes) per entry; the docs, the benchmark and the handler tests list them from
here. Plain Python: no CDK import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from importlib import import_module

from catalog import CATALOG, ORDER_EVENTS, PAYMENT_ANSWERS, EventType, Source, UnknownEventType, spec_for
from common.settings import FunctionSettings
from eventstore import answers, sagas
from infra.tables import ANALYTICS_EVENTS, EVENT_STORE, TableSpec
from inventory import stock
from users import service as users

# What separates a stream's key space from its id (`payment:<orderId>`); no caller-chosen id
# and no order's id has one (catalog/types.py).
KEY_SPACE_SEPARATOR = ":"


@dataclass(frozen=True)
class Streams:
    """The event store's streams a function appends to, when they are its own aggregates' alone:
    its PutItem on the store is allowed only where every partition key written
    (`dynamodb:LeadingKeys`) matches one of the patterns (IAM's StringLike: `*` is any text), or,
    negated, none of them. A wrong one breaks that function's appends on AWS only (neither moto
    nor the local cloud evaluates IAM): each is derived from the code's own stream names, and
    tests/infra/test_grants.py runs the code's appends against the synthesized condition."""

    patterns: tuple[str, ...]
    negated: bool = False

    @property
    def condition(self) -> dict[str, dict[str, list[str]]]:
        operator = "ForAllValues:StringNotLike" if self.negated else "ForAllValues:StringLike"
        return {operator: {"dynamodb:LeadingKeys": list(self.patterns)}}


# The saga's appends: its own `saga:<orderId>` stream and the order's (a bare UUID), so none of
# the other services' key spaces, whose answers and facts only they may write.
SAGA_STREAMS = Streams(
    (answers.PAYMENTS.stream("*"), answers.RESERVATIONS.stream("*"), users.stream_of("*"), f"{stock.STREAM_PREFIX}*"),
    negated=True,
)
# An order's own stream: its id, a UUID, in no key space. The saga asks for what an order holds
# on condition that the order has not changed since it read it (saga/coordinator.py).
ORDER_STREAMS = Streams((f"*{KEY_SPACE_SEPARATOR}*",), negated=True)


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    handler: str  # module.function, in lambdas/
    description: str
    # The only streams it appends to (None: no condition; every writer of the event store names
    # its own, tests/infra/test_grants.py).
    appends_to: Streams | None = field(default=None, kw_only=True)
    # The streams whose next version it checks is absent, in a transaction with its appends
    # (EventStore.absent: dynamodb:ConditionCheckItem); None: it checks none.
    checks: Streams | None = field(default=None, kw_only=True)

    @property
    def settings(self) -> type[FunctionSettings]:
        """The handler module's `Settings`: the tables, the bus and the values the function uses."""
        settings = getattr(import_module(self.handler.rpartition(".")[0]), "Settings", None)
        if not (isinstance(settings, type) and issubclass(settings, FunctionSettings)):
            raise TypeError(f"{self.name}: {self.handler.rpartition('.')[0]} declares no Settings(FunctionSettings)")
        return settings


@dataclass(frozen=True, kw_only=True)
class ConsumerSpec(FunctionSpec):
    """A consumer of the bus: a rule routes these event types to it (asynchronous invoke)."""

    event_types: tuple[EventType, ...]
    # Also routed the platform's events of types the catalog does not know, which it parks
    # with the reason: the bus would otherwise drop them without a trace.
    catch_all: bool = False

    @cached_property
    def sources(self) -> list[str]:
        """Its rule's sources: the services the catalog says publish its types; every platform
        service for a catch-all consumer."""
        if self.catch_all:
            return sorted(source.value for source in Source)
        return sorted({CATALOG[event_type].source.value for event_type in self.event_types})

    @cached_property
    def detail_types(self) -> list[str] | None:
        """Its rule's detail types (None: any, for a catch-all consumer)."""
        return None if self.catch_all else [event_type.value for event_type in self.event_types]

    def receives(self, detail_type: str, source: str) -> bool:
        """Whether its rule matches an entry: its source among the rule's, and its type (EventBridge
        matches each field on its own, so a type of one of its sources' comes from another too)."""
        return source in self.sources and (self.detail_types is None or detail_type in self.detail_types)


ORDERS_PROJECTION = ConsumerSpec(
    name="OrdersProjection",
    handler="projection.handler.handler",
    # the order's events, and its payment's answers: the read model shows its money
    event_types=(*ORDER_EVENTS, *PAYMENT_ANSWERS),
    description="Builds the orders read model (CQRS query side) from ORDER_* events and the payment's answers",
)
EMAIL = ConsumerSpec(
    name="Email",
    handler="notifications.handler.handler",
    event_types=(
        EventType.USER_REGISTERED,
        EventType.ORDER_CREATED,
        EventType.ORDER_CANCELLED,
        EventType.ORDER_COMPLETED,
    ),
    description="Emails the customer (SES) once per registration and order event",
)
ANALYTICS = ConsumerSpec(
    name="Analytics",
    handler="analytics.consumer.handler",
    event_types=tuple(EventType),
    description="Counts every event into per-day counters and CloudWatch metrics",
)
AUDIT = ConsumerSpec(
    name="Audit",
    handler="audit.consumer.handler",
    event_types=tuple(EventType),
    description="Appends every event to the audit log, by correlation id",
    catch_all=True,
)

ORDER_SAGA = ConsumerSpec(
    name="OrderSaga",
    handler="saga.handler.handler",
    event_types=(
        EventType.ORDER_CREATED,
        EventType.ORDER_CANCELLED,
        EventType.PAYMENT_PROCESSED,
        EventType.PAYMENT_FAILED,
        EventType.PAYMENT_REFUNDED,
        EventType.INVENTORY_UPDATED,
        EventType.INVENTORY_INSUFFICIENT,
        EventType.INVENTORY_RELEASED,
    ),
    description="Order fulfilment saga: payment, then stock, then completion, with compensation",
    appends_to=SAGA_STREAMS,
    checks=ORDER_STREAMS,
)
PAYMENTS = ConsumerSpec(
    name="Payments",
    handler="payments.handler.handler",
    event_types=(EventType.PAYMENT_REQUESTED, EventType.PAYMENT_REFUND_REQUESTED),
    description="Simulated payment provider: charges, declines over the limit, refunds",
    appends_to=Streams((answers.PAYMENTS.stream("*"),)),
)
INVENTORY_RESERVATIONS = ConsumerSpec(
    name="InventoryReservations",
    handler="inventory.handler.handler",
    # its reservation's end: released on the saga's request, or shipped once the order completes
    event_types=(
        EventType.INVENTORY_RESERVATION_REQUESTED,
        EventType.INVENTORY_RELEASE_REQUESTED,
        EventType.ORDER_COMPLETED,
    ),
    description="Reserves all of an order's lines at once (or none), releases them, ships them once it completes",
    appends_to=Streams((answers.RESERVATIONS.stream("*"),)),
)

CONSUMERS: tuple[ConsumerSpec, ...] = (
    ORDERS_PROJECTION,
    EMAIL,
    ANALYTICS,
    AUDIT,
    ORDER_SAGA,
    PAYMENTS,
    INVENTORY_RESERVATIONS,
)


class Door(Enum):
    """Who may call an API function's routes, and how the API checks it (docs/SECURITY.md)."""

    CUSTOMER = "customer"  # the customers' user pool: an ID token, and the customer is its subject
    STAFF = "staff"  # IAM (SigV4): staff and operators' roles, never a customer's token


@dataclass(frozen=True)
class HttpService(FunctionSpec):
    """One API function, the routes it serves, and who may call them."""

    routes: tuple[tuple[str, str], ...]  # (method, path)
    door: Door


HTTP_SERVICES = (
    HttpService(
        "OrdersApi",
        "orders.api.handler",
        "Orders: commands to the event store, queries to the read model",
        (
            ("POST", "/orders"),
            ("GET", "/orders/{id}"),
            ("PUT", "/orders/{id}"),
            ("POST", "/orders/{id}/cancel"),
            ("GET", "/orders/{id}/events"),
        ),
        Door.CUSTOMER,
        appends_to=ORDER_STREAMS,
        # An order changes only while its saga has not asked for its payment (eventstore/sagas.py).
        checks=Streams((sagas.saga_stream("*"),)),
    ),
    HttpService(
        "UsersApi",
        "users.api.handler",
        "Users: registration, one user per email address",
        (("POST", "/users"), ("GET", "/users/{id}")),
        Door.CUSTOMER,
        appends_to=Streams((users.stream_of("*"),)),
    ),
    HttpService(
        "InventoryApi",
        "inventory.api.handler",
        "Inventory: stock and prices per product",
        (
            ("PUT", "/inventory/{productId}"),
            ("PUT", "/inventory/{productId}/prices"),
            ("GET", "/inventory/{productId}"),
        ),
        Door.STAFF,
        appends_to=Streams((f"{stock.STREAM_PREFIX}*",)),
    ),
    HttpService(
        "AnalyticsApi",
        "analytics.api.handler",
        "Analytics: per-day counters",
        (("GET", "/analytics/daily"),),
        Door.STAFF,
    ),
    HttpService(
        "AuditApi",
        "audit.api.handler",
        "Audit: the causal chain of a correlation id",
        (("GET", "/audit/{correlationId}"),),
        Door.STAFF,
    ),
)


def consumers_of(event_type: str, source: str | None = None) -> list[str]:
    """The consumers the rules deliver an entry of this type to (from this source; by default
    the one the catalog names for the type): what the chaos audit and the bill count on."""
    if source is None:
        try:
            source = spec_for(event_type).source.value
        except UnknownEventType:
            return []  # no source to route it from
    return [spec.name for spec in CONSUMERS if spec.receives(event_type, source)]


@dataclass(frozen=True, kw_only=True)
class StreamReaderSpec(FunctionSpec):
    """Started by a table's stream (an event source mapping), one batch at a time per shard: its
    concurrency follows the table's shards, not the rate of orders."""

    table: TableSpec
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class ScheduledSpec(FunctionSpec):
    """Started by a schedule, whatever the traffic."""

    every_minutes: int


# Started by a table's stream or a schedule: the stateless stack wires each of them.
PUBLISHER = StreamReaderSpec(
    "Publisher",
    "publisher.handler.handler",
    "Outbox: event-store stream -> EventBridge bus",
    table=EVENT_STORE,
    batch_size=100,
)
SAGA_SWEEP = ScheduledSpec(
    "SagaSweep",
    "saga.sweep.handler",
    "Cancels and compensates orders whose saga waits on one step too long",
    every_minutes=1,
    appends_to=SAGA_STREAMS,
    checks=ORDER_STREAMS,
)
ANALYTICS_FOLD = StreamReaderSpec(
    "AnalyticsFold",
    "analytics.fold.handler",
    "Folds the analytics markers' stream into the per-day counters",
    table=ANALYTICS_EVENTS,
    batch_size=1000,
)

FUNCTIONS: tuple[FunctionSpec, ...] = (PUBLISHER, SAGA_SWEEP, ANALYTICS_FOLD, *HTTP_SERVICES, *CONSUMERS)
STREAM_READERS = tuple(spec for spec in FUNCTIONS if isinstance(spec, StreamReaderSpec))
