"""Lambda: every event into the append-only audit log."""

from __future__ import annotations

from functools import cache

from audit.log import AuditLog
from common.consumer import EventConsumer
from common.settings import setting


@cache
def audit_log() -> AuditLog:
    return AuditLog(setting("AUDIT_TABLE_NAME"))


# Exactly once by the entry's key (it ends in the eventId), written only if absent.
handler = EventConsumer(lambda event: audit_log().record(event)).handler
