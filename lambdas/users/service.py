"""Registering a user: the USER_REGISTERED event and the claim on its email address are
written in one transaction, so an address can never belong to two users.

A user's stream is `user:<userId>` (the customer's user-pool subject): a key space of its own,
which no caller-chosen id can name (they have no ':')."""

from __future__ import annotations

from datetime import UTC, datetime

from catalog import Caller, Envelope, EventType, new_event
from catalog.payloads import UserRegistered
from eventstore.store import ConcurrencyError, EventStore, GuardFailed

STREAM_PREFIX = "user:"


def stream_of(user_id: str) -> str:
    return f"{STREAM_PREFIX}{user_id}"


class EmailTaken(Exception):
    """The address is another user's. Said without the address: an answer, a log line or a trace
    quotes no personal data (docs/SECURITY.md)."""

    def __init__(self) -> None:
        super().__init__("email: the token's address is already registered to another user")


class AlreadyRegistered(Exception):
    def __init__(self, user_id: str):
        super().__init__(f"user {user_id} is already registered")


class UserNotFound(LookupError):
    def __init__(self, user_id: str):
        super().__init__(f"user {user_id} not found")


class UserService:
    def __init__(self, store: EventStore, emails_table: str):
        self._store = store
        self._emails_table = emails_table

    def register(self, *, user_id: str, email: str, name: str, caller: Caller) -> Envelope:
        address = email.strip()
        event = new_event(
            EventType.USER_REGISTERED,
            aggregate_id=stream_of(user_id),
            payload=UserRegistered(userId=user_id, email=address, name=name.strip()),
            version=1,
            user_id=caller.user_id,
            correlation_id=caller.correlation_id,
            causation_id=caller.causation_id,
        )
        # Addresses are unique regardless of case: Ada@x.com and ada@x.com are one mailbox.
        claim = {
            "Put": {
                "TableName": self._emails_table,
                "Item": {
                    "email": {"S": address.lower()},
                    "userId": {"S": user_id},
                    "registeredAt": {"S": datetime.now(UTC).isoformat()},
                },
                "ConditionExpression": "attribute_not_exists(email)",
            }
        }
        try:
            self._store.append([event], together_with=[claim])
        except GuardFailed:
            raise EmailTaken from None
        except ConcurrencyError:
            raise AlreadyRegistered(user_id) from None
        return event

    def get(self, user_id: str) -> UserRegistered:
        events = self._store.load(stream_of(user_id), up_to_version=1)
        if not events or events[0].eventType != EventType.USER_REGISTERED:
            raise UserNotFound(user_id)
        return events[0].payload
