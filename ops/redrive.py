"""List what sits in a dead-letter queue and, with --apply, send each message back where it
belongs, deleting it only once it has been re-sent.

    python -m ops.redrive Analytics            # dry run: what is parked, and why
    python -m ops.redrive Analytics --apply    # re-send, then delete

Four kinds of message land in these queues; three go back their own way:
  on-failure record (the function failed every attempt) -> the function, as an async invoke
  rule-target dead letter (EventBridge could not deliver) -> the function, as the event its
                                                           rule would have delivered (not
                                                           the bus: only the outbox speaks
                                                           for the services there, and every
                                                           other consumer has it already)
  stream batch (the publisher failed every attempt)      -> the publisher, with the records
                                                           read back from the stream
  refused record (the publisher can never publish it)    -> listed with its reason, left in
                                                           the queue: fix the item first
Consumers are idempotent by eventId, so a message re-sent twice has one effect.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3

from ops.deployment import stack_outputs

ON_FAILURE, RULE_TARGET, STREAM_BATCH = "on-failure record", "rule dead letter", "stream batch"
REFUSED = "refused record"


class CannotResend(RuntimeError):
    """This dead letter cannot succeed unchanged: it stays parked."""


@dataclass
class Parked:
    message_id: str
    receipt_handle: str
    kind: str
    event_type: str
    event_id: str
    error: str
    sent_at: datetime
    body: dict[str, Any]

    @property
    def age(self) -> str:
        seconds = int((datetime.now(UTC) - self.sent_at).total_seconds())
        return (
            f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
            if seconds >= 3600
            else f"{seconds // 60}m{seconds % 60:02d}s"
        )


def classify(message: dict[str, Any]) -> Parked:
    body = json.loads(message["Body"])
    attributes = message.get("MessageAttributes", {})
    sent_at = datetime.fromtimestamp(int(message["Attributes"]["SentTimestamp"]) / 1000, UTC)
    if "requestPayload" in body:  # Lambda async invoke, after its retries
        payload = body["requestPayload"]
        detail = payload.get("detail", {}) if isinstance(payload, dict) else {}
        detail = detail if isinstance(detail, dict) else {}  # a detail that is not an object
        error = (body.get("responsePayload") or {}).get("errorMessage") or body["requestContext"].get("condition", "")
        return Parked(
            message["MessageId"],
            message["ReceiptHandle"],
            ON_FAILURE,
            detail.get("eventType", "?"),
            detail.get("eventId", "?"),
            error,
            sent_at,
            body,
        )
    if "refusedRecord" in body:  # the publisher: never publishable as it is
        where = body["refusedRecord"]
        keys = ",".join(f"{k}={next(iter(v.values()))}" for k, v in sorted(where.get("keys", {}).items()))
        return Parked(
            message["MessageId"],
            message["ReceiptHandle"],
            REFUSED,
            keys or "?",
            where.get("sequenceNumber", "?"),
            body.get("reason", ""),
            sent_at,
            body,
        )
    if "DDBStreamBatchInfo" in body:  # the stream event source, after its retries
        info = body["DDBStreamBatchInfo"]
        error = body.get("responseContext", {}).get("functionError") or body.get("requestContext", {}).get(
            "condition", ""
        )
        return Parked(
            message["MessageId"],
            message["ReceiptHandle"],
            STREAM_BATCH,
            f"{info.get('batchSize', '?')} records",
            info.get("startSequenceNumber", "?"),
            str(error),
            sent_at,
            body,
        )
    detail = body.get("detail", {})  # EventBridge could not deliver to the target
    detail = detail if isinstance(detail, dict) else {}
    error = " ".join(
        attributes.get(name, {}).get("StringValue", "") for name in ("ERROR_CODE", "ERROR_MESSAGE")
    ).strip()
    return Parked(
        message["MessageId"],
        message["ReceiptHandle"],
        RULE_TARGET,
        body.get("detail-type", "?"),
        detail.get("eventId", "?"),
        error,
        sent_at,
        body,
    )


class Redrive:
    def __init__(self, owner: str, outputs: dict[str, str], *, sqs=None, lambda_=None, streams=None):
        self.outputs = outputs
        self.queue_url = outputs[f"{owner}DeadLetterQueueUrl"]
        self.function = outputs[f"{owner}FunctionName"]
        self._sqs = sqs or boto3.client("sqs")
        self._lambda = lambda_ or boto3.client("lambda")
        self._streams = streams or boto3.client("dynamodbstreams")

    def parked(self, *, hold_seconds: int = 0) -> list[Parked]:
        """Every message in the queue. hold_seconds > 0 hides them from others while we work."""
        seen: dict[str, Parked] = {}
        empty_rounds = 0
        while empty_rounds < 2:
            messages = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=hold_seconds,
                WaitTimeSeconds=1,
                AttributeNames=["SentTimestamp"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            new = [m for m in messages if m["MessageId"] not in seen]
            empty_rounds = 0 if new else empty_rounds + 1
            for message in new:
                seen[message["MessageId"]] = classify(message)
        return sorted(seen.values(), key=lambda p: p.sent_at)

    def resend(self, parked: Parked) -> None:
        """Send one message back where it belongs; raises if that did not succeed."""
        if parked.kind == REFUSED:
            raise CannotResend(f"never publishable as it is ({parked.error}): fix or delete item {parked.event_type}")
        if parked.kind == ON_FAILURE:
            payload = json.dumps(parked.body["requestPayload"]).encode()
            response = self._lambda.invoke(FunctionName=self.function, InvocationType="Event", Payload=payload)
            if response["StatusCode"] != 202:
                raise RuntimeError(f"async invoke answered {response['StatusCode']}")
        elif parked.kind == RULE_TARGET:
            payload = json.dumps(parked.body).encode()
            response = self._lambda.invoke(FunctionName=self.function, InvocationType="Event", Payload=payload)
            if response["StatusCode"] != 202:
                raise RuntimeError(f"async invoke answered {response['StatusCode']}")
        else:
            records = self.stream_records(parked.body["DDBStreamBatchInfo"])
            # boto3 parses ApproximateCreationDateTime; Lambda delivers it as epoch seconds
            payload = json.dumps({"Records": records}, default=lambda moment: moment.timestamp()).encode()
            response = self._lambda.invoke(FunctionName=self.function, Payload=payload)
            result = json.loads(response["Payload"].read() or b"{}")
            if response.get("FunctionError") or result.get("batchItemFailures"):
                raise RuntimeError(f"the publisher failed again: {result}")

    def stream_records(self, info: dict[str, Any]) -> list[dict[str, Any]]:
        """The batch's records, read back from the stream (kept 24 hours on AWS)."""
        iterator = self._streams.get_shard_iterator(
            StreamArn=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
        end, records = int(info["endSequenceNumber"]), list[dict]()
        while iterator:
            page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                if int(record["dynamodb"]["SequenceNumber"]) > end:
                    return records
                records.append(record)
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
        if not records:
            raise RuntimeError("the records have left the stream (24 h): rebuild from the event store instead")
        return records

    def delete(self, parked: Parked) -> None:
        self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=parked.receipt_handle)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.redrive", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("owner", help="the consumer (e.g. Analytics) or Publisher whose dead letters to redrive")
    parser.add_argument("--apply", action="store_true", help="re-send and delete (default: only list)")
    parser.add_argument("--stage", default=None, help="dev or prod (default: $STAGE or dev)")
    args = parser.parse_args(argv)

    redrive = Redrive(args.owner, stack_outputs(args.stage))
    parked = redrive.parked(hold_seconds=120 if args.apply else 0)
    print(f"{len(parked)} message(s) in {args.owner}'s dead-letter queue")
    if parked:
        print(f"{'kind':18} {'event type':24} {'event id':38} {'age':>8}  error")
    for item in parked:
        print(f"{item.kind:18} {item.event_type:24} {item.event_id:38} {item.age:>8}  {item.error[:100]}")
    if not args.apply:
        if parked:
            print("\ndry run: nothing sent. Fix the cause, then run again with --apply.")
        return 0

    resent = failed = 0
    for item in parked:
        try:
            redrive.resend(item)
        except Exception as error:
            failed += 1
            print(f"kept {item.event_id}: {error}", file=sys.stderr)
            continue
        redrive.delete(item)
        resent += 1
    print(f"\nre-sent and deleted {resent}; kept {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
