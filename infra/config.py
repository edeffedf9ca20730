"""Stage settings. Only app.py reads context; everything below receives a StageConfig."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_logs as logs


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
    # At most this many concurrent runs of each consumer (None: no reservation). Reserving needs
    # account headroom: a new account's 10 unreserved executions cannot be reserved away.
    consumer_reserved_concurrency: int | None = None
    # How long an order's saga may wait on its steps (payment, then reservation), counted from
    # the first, before the order is cancelled.
    saga_timeout: Duration = Duration.minutes(5)
    # Lambda's advanced logging controls (JSON records). Application: the handlers' own lines
    # (one INFO line per event handled); system: the platform's START/END/REPORT records,
    # which WARN leaves out (they are a third of the bytes a small invocation ingests).
    application_log_level: str = "INFO"
    system_log_level: str = "INFO"
    # How long the analytics fold waits to gather a batch: longer is fewer counter updates, and
    # counters that lag by as much.
    analytics_batching_window: Duration = Duration.seconds(1)

    @property
    def removal_policy(self) -> RemovalPolicy:
        return RemovalPolicy.RETAIN if self.retain_data else RemovalPolicy.DESTROY

    @classmethod
    def for_stage(cls, stage: str, *, email_sender: str | None = None) -> "StageConfig":
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
                consumer_reserved_concurrency=25,
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
            )
        raise ValueError(f"unknown stage {stage!r}: use -c stage=dev or -c stage=prod")
