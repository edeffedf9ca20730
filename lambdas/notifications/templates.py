"""The emails the platform sends, one template per event type."""

from __future__ import annotations

from dataclasses import dataclass
from string import Template

from catalog import EventType


@dataclass(frozen=True)
class EmailTemplate:
    subject: Template
    body: Template

    def render(self, **values: str) -> tuple[str, str]:
        return self.subject.substitute(values), self.body.substitute(values)


TEMPLATES: dict[EventType, EmailTemplate] = {
    EventType.USER_REGISTERED: EmailTemplate(
        Template("Welcome, $name"),
        Template("Hello $name,\n\nyour account is ready. Your customer id is $userId.\n"),
    ),
    EventType.ORDER_CREATED: EmailTemplate(
        Template("We received your order $orderId"),
        Template("Hello $name,\n\nthank you for your order $orderId.\n\n$lines\nTotal: $totalAmount $currency\n"),
    ),
    EventType.ORDER_CANCELLED: EmailTemplate(
        Template("Your order $orderId was cancelled"),
        Template("Hello $name,\n\nyour order $orderId was cancelled: $reason.\n"),
    ),
    EventType.ORDER_COMPLETED: EmailTemplate(
        Template("Your order $orderId is confirmed"),
        Template("Hello $name,\n\nyour order $orderId is paid and reserved; it is on its way.\n"),
    ),
}
