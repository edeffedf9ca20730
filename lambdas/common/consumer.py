"""What every bus consumer shares: parse the envelope, check its routing, log under its
correlation id, and run the per-event work.

EventBridge delivers at least once, and Lambda retries failed invocations, so every consumer's
work is exactly-once by a write of its own that is conditional on the event: the read model's
version, the audit entry's key (it ends in the eventId), the analytics marker, the saga's, the
payment's and the reservation's own streams in the event store (each answer or command at the
stream's next version, written only if absent), the email's claim. None keeps a second record
beside its effect (Powertools idempotency would add two writes an event, the second billed at
the whole record's size). A failed attempt writes nothing that
would stop its retry.

    consumer = EventConsumer(process)   # process(envelope) -> dict, the per-event work
    handler = consumer.handler          # the Lambda entry point

Anyone the bus lets call PutEvents can put an event with a catalog's source on it, so a consumer
that moves money or stock, changes a read model or where a customer's email goes acts only on
the platform's own events: `EventConsumer(process, held_by=store)` hands `process` the event
store's copy of each event, the one it holds at the event's (aggregateId, version) with the
same eventId and eventType, and refuses any other (NotInEventStore: retried, then parked with
the reason). One strongly consistent read an event (docs/DECISIONS.md, "verified against the
store").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from catalog import CATALOG, Envelope, EventType, Source, parse_event
from catalog.types import IDENTIFIER_PATTERN
from common.observability import log_context, logger
from common.tracing import traced_handler

Process = Callable[[Envelope], dict[str, Any]]


class HoldsEvents(Protocol):
    """The event store, as a consumer that acts only on its events sees it (eventstore.store)."""

    def held(self, event: Envelope) -> Envelope:
        """The store's copy of this event, or NotInEventStore."""
        ...


class Misrouted(ValueError):
    """The bus entry's source or detail-type contradicts the event inside it."""


class EventConsumer:
    def __init__(self, process: Process, *, held_by: Callable[[], HoldsEvents] | None = None):
        self._process = process
        self._held_by = held_by  # the event store whose copy of each event is acted on

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        detail = event["detail"]
        try:
            envelope = parse_event(detail)  # a malformed event fails here, before any effect
            _check_routing(event, envelope)
            if self._held_by is not None:
                envelope = self._held_by().held(envelope)
            result = self._process(envelope)
        except Exception:
            # One line an attempt that failed, naming the event (the runtime's own error record
            # names only the request): Lambda retries it, then parks it with the last error.
            logger.exception(
                "event failed",
                extra={"eventId": _event_id(detail), "eventType": _known(event.get("detail-type"), _TYPES)},
            )
            raise
        # Lambda's own Invocations and Errors count the events; a custom metric per event would
        # only add an EMF record to every invocation's logs. One line an event, its outcome only
        # (each byte is ingested and billed); the whole result is DEBUG.
        logger.info(
            "event consumed",
            extra={
                "eventId": str(envelope.eventId),
                "eventType": envelope.eventType,
                "aggregateId": envelope.aggregateId,
                "outcome": result.get("outcome"),
            },
        )
        logger.debug("event result", extra={"eventId": str(envelope.eventId), "result": result})
        return result

    @property
    def handler(self) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
        @traced_handler
        def traced(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return self.handle(event, context)

        # Decorators outermost first: logger (with the correlation id), tracing.
        return log_context(traced, correlation_id_path="detail.metadata.correlationId")


# What a log line or an error says of the entry's own fields: a value the platform knows, or
# that it is not one. Anyone who may put events can write anything there (an address, say), and
# an error is logged and kept as the dead-letter reason.
_TYPES = frozenset(event_type.value for event_type in EventType)
_SOURCES = frozenset(source.value for source in Source)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)


def _known(value: Any, known: frozenset[str]) -> str | None:
    return value if isinstance(value, str) and value in known else None


def _said(value: Any, known: frozenset[str]) -> str:
    return repr(value) if _known(value, known) else "(not one of the platform's)"


def _event_id(detail: Any) -> str | None:
    """The eventId of a detail, even one too malformed to parse, when it is shaped as an id."""
    event_id = detail.get("eventId") if isinstance(detail, dict) else None
    return str(event_id) if event_id is not None and _IDENTIFIER.match(str(event_id)) else None


def _check_routing(event: dict[str, Any], envelope: Envelope) -> None:
    """The rules route by the entry's source and detail-type; the work trusts the detail. A
    producer that sets one and writes another is refused, so neither can be spoofed."""
    detail_type, source = event.get("detail-type"), event.get("source")
    if detail_type is not None and detail_type != envelope.eventType:
        raise Misrouted(
            f"detail-type {_said(detail_type, _TYPES)} does not match the event's eventType {envelope.eventType!r}"
        )
    publisher = CATALOG[EventType(envelope.eventType)].source.value
    if source is not None and source != publisher:
        raise Misrouted(f"source {_said(source, _SOURCES)} does not publish {envelope.eventType}: {publisher!r} does")
