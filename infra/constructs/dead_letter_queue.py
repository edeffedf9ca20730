"""A dead-letter queue and the alarm that says something landed in it: the safety net every
asynchronous hop gets (rule targets, async invokes, the stream source)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra import compliance
from infra.config import StageConfig


class DeadLetterQueue(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        owner: str,
        alarm_topic: sns.ITopic,
        rule_source_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=config.dlq_retention,
            removal_policy=config.removal_policy,
        )
        # Rule targets in the stateless stack send here on delivery failure. Granting the rules
        # of this bus (not each rule by ARN) keeps the dependency one-way: data never depends
        # on code.
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowRulesOfThisBus",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.queue.queue_arn],
                conditions={"ArnLike": {"aws:SourceArn": rule_source_arn}},
            )
        )
        compliance.excuse(self.queue, compliance.DEAD_LETTER_QUEUE)
        self.alarm = cloudwatch.Alarm(
            self,
            "NotEmpty",
            alarm_description=f"{owner}: events failed and are parked; inspect with `make redrive FROM={owner}`",
            metric=self.queue.metric_approximate_number_of_messages_visible(
                period=Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarm.add_alarm_action(actions.SnsAction(alarm_topic))
