"""The event envelope every event travels in, and how it maps to an EventBridge entry."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_serializer

from catalog.payloads import Payload
from catalog.types import Identifier

P = TypeVar("P", bound=Payload)


@dataclass(frozen=True)
class Caller:
    """Who issued a command and which conversation it belongs to: what the metadata of every
    event the command causes says (the API's signed-in user, or a service such as the saga)."""

    user_id: str
    correlation_id: str
    causation_id: str | None = None


class Metadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, hide_input_in_errors=True)

    userId: Identifier
    correlationId: Identifier
    causationId: Identifier | None = None
    version: int = Field(ge=1, strict=True)
    schemaVersion: int = Field(default=1, ge=1, strict=True)


class Envelope(BaseModel, Generic[P]):
    """One event: who it belongs to, what happened (payload) and why (metadata)."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, hide_input_in_errors=True)

    eventId: uuid.UUID
    eventType: str
    timestamp: AwareDatetime
    aggregateId: Identifier
    payload: P
    metadata: Metadata

    @field_serializer("timestamp")
    def _utc_iso(self, value: datetime) -> str:
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    @property
    def version(self) -> int:
        return self.metadata.version

    def to_json(self) -> str:
        return self.model_dump_json()

    def to_detail(self) -> dict[str, Any]:
        return json.loads(self.to_json())


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()


def utc_now() -> datetime:
    """Now, to the millisecond: the precision the envelope carries, so events round-trip."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
