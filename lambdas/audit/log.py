"""The audit log: every event once, keyed by its correlation id and when it happened, so one
conversation (a checkout, a registration) reads back as an ordered causal chain."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from catalog import CATALOG, Envelope, EventType
from common import clients


class AuditLog:
    def __init__(self, table_name: str, *, client=None):
        self._table = table_name
        self._client = client or clients.client("dynamodb")

    def record(self, event: Envelope) -> dict[str, Any]:
        # Time first; within one millisecond, an aggregate's versions keep their order.
        at = f"{event.to_detail()['timestamp']}#{event.version:010d}#{event.eventId}"
        item = {
            "correlationId": {"S": event.metadata.correlationId},
            "at": {"S": at},
            "eventId": {"S": str(event.eventId)},
            "eventType": {"S": event.eventType},
            "source": {"S": CATALOG[EventType(event.eventType)].source.value},
            "aggregateId": {"S": event.aggregateId},
            "version": {"N": str(event.version)},
            "userId": {"S": event.metadata.userId},
            "detail": {"S": event.to_json()},
        }
        if event.metadata.causationId:
            item["causationId"] = {"S": event.metadata.causationId}
        try:  # append-only: an entry is written once and never changed
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(#at)",
                ExpressionAttributeNames={"#at": "at"},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return {"outcome": "already-recorded", "at": at}
            raise
        return {"outcome": "recorded", "at": at}

    def chain(self, correlation_id: str) -> list[dict[str, Any]]:
        """Every event of one correlation id, oldest first."""
        entries = []
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table,
            KeyConditionExpression="correlationId = :id",
            ExpressionAttributeValues={":id": {"S": correlation_id}},
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                entries.append(
                    {
                        "at": item["at"]["S"].split("#", 1)[0],
                        "eventId": item["eventId"]["S"],
                        "eventType": item["eventType"]["S"],
                        "source": item["source"]["S"],
                        "aggregateId": item["aggregateId"]["S"],
                        "version": int(item["version"]["N"]),
                        "userId": item["userId"]["S"],
                        "causationId": item.get("causationId", {}).get("S"),
                    }
                )
        return entries
