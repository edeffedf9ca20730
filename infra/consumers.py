"""Every function of the platform, declared once: its name, its handler, and what starts it
(a consumer's event types, an API function's routes, a table's stream, a schedule). What it
uses (its tables and how, the bus, its settings) is its handler module's `Settings`
(lambdas/common/settings.py): the stacks derive each function's environment and grants from
the two.

The stateful stack makes one dead-letter queue per consumer, stream reader and schedule, the
stateless stack one function (and rule, routes, event source or schedule) per entry. A
consumer's entry also says how its concurrency is sized (infra/config.py), which event it is
first handed (the benchmark) and how the chaos audit sees that its effect happened exactly
once (chaos/audit.py): a new consumer reaches prod, the audit and the bench from its entry.
The docs, the benchmark and the handler tests list every function from here. Plain Python: no
CDK import.
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


@dataclass(frozen=True)
class Recorded:
    """A consumer's effect is an item of one of its tables for each event it handles, keyed by a
    field of the event (`payload.orderId`: the item of the event's order): the chaos audit looks
    the item up for every event routed to it. `done` names an attribute and the values that mean
    the effect is complete (an email claimed but not yet sent is not). Events that share a key share
    the item (the loyalty points of an order): the audit sees the effect, not each delivery."""

    table: str  # its TableSpec's key (infra/tables.py)
    key: str = "eventId"  # a field of the envelope, dotted
    prefix: str = ""  # the item's key is prefix + the field's value
    done: tuple[str, tuple[str, ...]] | None = None

    def key_of(self, event: dict) -> str | None:
        value: object = event
        for part in self.key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return None if value is None else f"{self.prefix}{value}"


@dataclass(frozen=True)
class Checked:
    """A consumer's effect that only the chaos audit's own reading of the platform can see (the
    read model's version, the saga's decision, an answer on the order's stream): the audit's
    check of that name (chaos/audit.py, CHECKS)."""

    name: str


class NotSized(LookupError):
    """A consumer with neither a measured concurrency nor a declared one: a reservation of 0, or
    a guess, would be silent; the stage refuses to synthesize instead."""


@dataclass(frozen=True, kw_only=True)
class ConsumerSpec(FunctionSpec):
    """A consumer of the bus: a rule routes these event types to it (asynchronous invoke)."""

    event_types: tuple[EventType, ...]
    # How the chaos audit sees that its effect happened, once, for each event routed to it.
    once: Recorded | Checked
    # Also routed the platform's events of types the catalog does not know, which it parks
    # with the reason: the bus would otherwise drop them without a trace.
    catch_all: bool = False
    # The concurrent executions an order a second keeps busy: `make bench` measures it
    # (infra/concurrency.json, which wins); until then, this estimate sizes its reservation.
    per_order_per_second: float | None = None
    # The event the benchmark hands it (cold start, warm cost): its first type by default.
    sample: EventType | None = None

    @property
    def sample_type(self) -> EventType:
        return self.sample or self.event_types[0]

    def concurrency_per_order(self, measured: dict[str, float]) -> float:
        """Its concurrent executions for each order a second: measured, else declared, else an error."""
        if self.name in measured:
            return measured[self.name]
        if self.per_order_per_second is not None:
            return self.per_order_per_second
        raise NotSized(
            f"{self.name}: no concurrency measured (infra/concurrency.json) and none declared: run "
            f"`make bench`, or give its ConsumerSpec per_order_per_second (an estimate)"
        )

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
    once=Checked("read-model-version"),  # the order's read model at the event's version, or past it
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
    once=Recorded("email_log", prefix="sent#", done=("status", ("SENT", "SKIPPED"))),
)
ANALYTICS = ConsumerSpec(
    name="Analytics",
    handler="analytics.consumer.handler",
    event_types=tuple(EventType),
    sample=EventType.ORDER_CREATED,
    description="Counts every event into per-day counters and CloudWatch metrics",
    once=Checked("analytics-marker"),  # one marker an event, in one of the day's lanes
)
AUDIT = ConsumerSpec(
    name="Audit",
    handler="audit.consumer.handler",
    event_types=tuple(EventType),
    sample=EventType.ORDER_CREATED,
    description="Appends every event to the audit log, by correlation id",
    catch_all=True,
    once=Checked("audit-log"),  # its entry in the conversation's log
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
    once=Checked("saga-decision"),  # its decision, given the order's streams, asks for nothing more
)
PAYMENTS = ConsumerSpec(
    name="Payments",
    handler="payments.handler.handler",
    event_types=(EventType.PAYMENT_REQUESTED, EventType.PAYMENT_REFUND_REQUESTED),
    description="Simulated payment provider: charges, declines over the limit, refunds",
    appends_to=Streams((answers.PAYMENTS.stream("*"),)),
    once=Checked("payment-answer"),  # the request's answer on the order's payment stream
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
    once=Checked("reservation-answer"),  # the request's answer on the order's reservation stream
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
    # A batch that fails is retried this many times, then parked in its dead-letter queue:
    # bisected first (to park only the record at fault), and with the records the handler
    # reports as failed (ReportBatchItemFailures) retried alone, when asked.
    retry_attempts: int
    bisect_on_error: bool = False
    reports_item_failures: bool = False
    # Waits up to the stage's batching window (StageConfig.analytics_batching_window) for a
    # fuller batch: fewer invocations, each doing more.
    batching_window: bool = False
    # The outbox: runs as the role the bus policy names as the services' only voice, and goes
    # on in the traces of the events it reads (PassThrough) instead of starting its own.
    speaks_for_services: bool = False


@dataclass(frozen=True, kw_only=True)
class ScheduledSpec(FunctionSpec):
    """Started by a schedule, whatever the traffic."""

    every_minutes: int
    timeout_minutes: int = 1
    # A run that fails is not run again by Lambda (the next tick runs anyway), and a delivery
    # EventBridge could not make is tried this many times within this age, then parked.
    retry_attempts: int = 0
    delivery_retry_attempts: int = 2
    delivery_max_age_minutes: int = 5


# Started by a table's stream or a schedule: the stateless stack wires each of them.
PUBLISHER = StreamReaderSpec(
    "Publisher",
    "publisher.handler.handler",
    "Outbox: event-store stream -> EventBridge bus",
    table=EVENT_STORE,
    batch_size=100,
    retry_attempts=5,
    bisect_on_error=True,
    reports_item_failures=True,
    speaks_for_services=True,
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
    retry_attempts=10,
    bisect_on_error=False,  # a fold is all or nothing, and a retry adds only what it has not
    batching_window=True,
)

FUNCTIONS: tuple[FunctionSpec, ...] = (PUBLISHER, SAGA_SWEEP, ANALYTICS_FOLD, *HTTP_SERVICES, *CONSUMERS)
STREAM_READERS = tuple(spec for spec in FUNCTIONS if isinstance(spec, StreamReaderSpec))
SCHEDULES = tuple(spec for spec in FUNCTIONS if isinstance(spec, ScheduledSpec))
