"""Lambda: every event into the append-only audit log."""

from functools import cache

from audit.log import AuditLog
from common.consumer import EventConsumer
from common.settings import FunctionSettings, ReadWriteTable


class Settings(FunctionSettings):
    audit_table_name: ReadWriteTable


@cache
def audit_log() -> AuditLog:
    return AuditLog(Settings.current().audit_table_name)


# Exactly once by the entry's key (it ends in the eventId), written only if absent.
handler = EventConsumer(lambda event: audit_log().record(event)).handler
