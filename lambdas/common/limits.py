"""EventBridge's entry limit and how it is counted. Plain Python on purpose: the publisher
needs it on every cold start and must not pay for the event models it never parses."""

# EventBridge refuses an entry over 256 KB (Source + DetailType + Detail + Time, in UTF-8).
MAX_ENTRY_BYTES = 256 * 1024


def entry_size(source: str, detail_type: str, detail: str) -> int:
    """Size of a PutEvents entry as EventBridge counts it (Time counts as 14 bytes)."""
    return len(source.encode()) + len(detail_type.encode()) + len(detail.encode()) + 14
