"""Stage settings. Only app.py reads context; everything below receives a StageConfig."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs

if TYPE_CHECKING:
    from infra.consumers import ConsumerSpec

# The capacity model's concurrency of each consumer (bench/capacity.py, from `make bench`).
CONCURRENCY = json.loads(Path(__file__).with_name("concurrency.json").read_text())
RESERVED_HEADROOM = 2
RESERVED_MINIMUM = 2  # one delivery and its retry side by side


def reserved_for(per_order_per_second: float, orders_per_second: int) -> int:
    """Concurrent executions to reserve for a function that needs `per_order_per_second` for
    each order a second, at `orders_per_second`."""
    return max(RESERVED_MINIMUM, math.ceil(orders_per_second * per_order_per_second * RESERVED_HEADROOM))


@dataclass(frozen=True, kw_only=True)
class StageConfig:
    stage: str
    retain_data: bool
    point_in_time_recovery: bool
    termination_protection: bool
    log_retention: logs.RetentionDays
    email_sender: str
    # Async delivery: EventBridge retries a target, then Lambda retries a failed invocation.
    rule_retry_attempts: int = 4
    rule_max_event_age: Duration = Duration.hours(2)
    lambda_retry_attempts: int = 2
    lambda_max_event_age: Duration = Duration.hours(1)
    dlq_retention: Duration = Duration.days(14)
    # The orders a second each consumer's reserved concurrency is sized for (None: no
    # reservation): see reserved_concurrency.
    target_orders_per_second: int | None = None
    # How long an order's saga may wait on its steps (payment, then reservation), counted from
    # the first, before the order is cancelled.
    saga_timeout_seconds: int = 300
    # Lambda's advanced logging controls (JSON records). Application: the handlers' own lines
    # (one INFO line per event handled); system: the platform's START/END/REPORT records,
    # which WARN leaves out (they are a third of the bytes a small invocation ingests).
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"
    # How long the analytics fold waits to gather a batch: longer is fewer counter updates, and
    # counters that lag by as much.
    analytics_batching_window: Duration = Duration.seconds(1)
    # Whether operators may put events of the platform's sources on the bus by hand (the
    # BusOperatorRole): for trying consumers on dev; on prod only the outbox speaks for a service.
    operators_may_publish: bool = False
    # Whether its functions can be made to fail on purpose (`make fault`, `make chaos`): each then
    # carries the fault-injection layer, whose wrapper runs its own handler. prod carries neither.
    fault_injection: bool = False

    def reserved_concurrency(self, consumer: ConsumerSpec) -> int | None:
        """The concurrent executions reserved for a consumer: its concurrency for each order a
        second (measured by the benchmark: infra/concurrency.json, written by `make capacity`;
        until measured, its spec's estimate; neither, an error that names it) at the stage's
        target rate, twice over for bursts and slower invocations. A reservation is both a
        guarantee and a cap: past it, deliveries are throttled and retried (their age bounded by
        max_event_age)."""
        if self.target_orders_per_second is None:
            return None
        per_order = consumer.concurrency_per_order(CONCURRENCY["perOrderPerSecond"])
        return reserved_for(per_order, self.target_orders_per_second)

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    @classmethod
    def for_stage(cls, stage: str, *, email_sender: str | None = None) -> StageConfig:
        # SES sends only from a verified identity: deploying creates it, and AWS mails a
        # verification link to the address (-c emailSender=you@yourdomain to use your own).
        sender = email_sender or f"orders@{stage}.order-platform.example.com"
        if stage == "prod":
            return cls(
                stage=stage,
                email_sender=sender,
                retain_data=True,
                point_in_time_recovery=True,
                termination_protection=True,
                log_retention=logs.RetentionDays.THREE_MONTHS,
                target_orders_per_second=100,
                system_log_level="WARN",
                analytics_batching_window=Duration.seconds(10),
            )
        if stage == "dev":
            return cls(
                stage=stage,
                email_sender=sender,
                retain_data=False,
                point_in_time_recovery=False,
                termination_protection=False,
                log_retention=logs.RetentionDays.ONE_WEEK,
                operators_may_publish=True,
                fault_injection=True,
            )
        raise ValueError(f"unknown stage {stage!r}: use -c stage=dev or -c stage=prod")
