"""Decides who gets which email for an event, sends it through SES, and records it.

The consumer keeps what it needs to address customers in its own table (EmailLog):
  contact#<userId>   email and name, from USER_REGISTERED
  order#<orderId>    the order's customer, from ORDER_CREATED
  sent#<eventId>     the SES message id of the email sent for that event
An order event for a customer who never registered has nobody to write to: it is skipped
(and logged), not failed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import boto3

from catalog import Envelope, EventType
from notifications.templates import TEMPLATES


class OrderUnknown(LookupError):
    """An order event arrived before its ORDER_CREATED: fail, so it is retried."""


class Mailer:
    def __init__(self, table_name: str, sender: str, *, dynamodb=None, ses=None):
        self._table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)
        self._sender = sender
        self._ses = ses or boto3.client("ses")

    def handle(self, event: Envelope) -> dict[str, Any]:
        payload = event.payload
        match EventType(event.eventType):
            case EventType.USER_REGISTERED:
                self._put(f"contact#{payload.userId}", email=payload.email, name=payload.name)
                return self._send(event, payload.userId, userId=payload.userId)
            case EventType.ORDER_CREATED:
                self._put(f"order#{payload.orderId}", customerId=payload.customerId)
                lines = "\n".join(f"  {i.quantity} x {i.productId} at {i.price:.2f}" for i in payload.items)
                return self._send(event, payload.customerId, orderId=payload.orderId, lines=lines,
                                  totalAmount=f"{payload.totalAmount:.2f}", currency=payload.currency)
            case EventType.ORDER_CANCELLED:
                return self._send(event, self._customer_of(payload.orderId), orderId=payload.orderId, reason=payload.reason)
            case EventType.ORDER_COMPLETED:
                return self._send(event, self._customer_of(payload.orderId), orderId=payload.orderId)
        return {"outcome": "ignored"}

    def _customer_of(self, order_id: str) -> str:
        item = self._table.get_item(Key={"id": f"order#{order_id}"}, ConsistentRead=True).get("Item")
        if item is None:
            raise OrderUnknown(f"no ORDER_CREATED seen yet for order {order_id}")
        return item["customerId"]

    def _send(self, event: Envelope, user_id: str, **values: str) -> dict[str, Any]:
        contact = self._table.get_item(Key={"id": f"contact#{user_id}"}, ConsistentRead=True).get("Item")
        if contact is None:
            return {"outcome": "skipped", "reason": f"no email address known for {user_id}"}
        already = self._table.get_item(Key={"id": f"sent#{event.eventId}"}, ConsistentRead=True).get("Item")
        if already is not None:  # sent, but the run that sent it died before it was recorded as done
            return {"outcome": "sent", "messageId": already["messageId"], "to": already["to"]}
        subject, body = TEMPLATES[EventType(event.eventType)].render(name=contact["name"], **values)
        response = self._ses.send_email(
            Source=self._sender,
            Destination={"ToAddresses": [contact["email"]]},
            Message={"Subject": {"Data": subject}, "Body": {"Text": {"Data": body}}},
        )
        self._put(f"sent#{event.eventId}", messageId=response["MessageId"], to=contact["email"],
                  eventType=event.eventType, subject=subject)
        return {"outcome": "sent", "messageId": response["MessageId"], "to": contact["email"]}

    def _put(self, key: str, **attributes: str) -> None:
        self._table.put_item(Item={"id": key, **attributes, "at": datetime.now(timezone.utc).isoformat()})
