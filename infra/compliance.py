"""The security gate: cdk-nag's AwsSolutions and Serverless packs on every stack, and every
exception to them, each with the reason a reviewer would accept.

A finding without a suppression is an error annotation, and `cdk synth` fails on it. A
suppression is applied to one resource (never a stack), and an IAM5 one names the exact
wildcard it allows (`applies_to`). The README's security section lists these reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions, ServerlessChecks
from constructs import IConstruct


@dataclass(frozen=True)
class Waiver:
    rules: tuple[str, ...]  # cdk-nag rule ids
    reason: str
    checkov: tuple[str, ...] = ()  # the checkov checks the same reason answers, skipped on the same resource


# Every exception the platform takes, by the kind of resource it applies to.
XRAY_WRITES = Waiver(
    ("AwsSolutions-IAM5",),
    "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions: "
    "active tracing needs Resource '*' for exactly these two write actions.",
)
STREAM_LISTING = Waiver(
    ("AwsSolutions-IAM5",),
    "A stream reader's event source mapping: CDK grants dynamodb:ListStreams, which lists the account's "
    "streams and has no resource-level permissions, on Resource '*'; reading the stream is on its one ARN.",
)
PINNED_RUNTIME = Waiver(
    ("AwsSolutions-L1", "Serverless-LambdaLatestVersion"),
    "The runtime is pinned (python3.12) to the Python the Powertools layer is resolved for and "
    "the suite runs against; moving to a newer runtime is a deliberate, tested change.",
)
SYNCHRONOUS_FUNCTION = Waiver(
    ("Serverless-LambdaDLQ",),
    "Invoked synchronously (API Gateway) or by a stream event source with its own on-failure "
    "destination: a function DLQ would never receive anything.",
    checkov=("CKV_AWS_116",),
)
ASYNC_WITH_DESTINATION = Waiver(
    ("Serverless-LambdaDLQ",),
    "Failed async invocations go to an on-failure destination (EventInvokeConfig), which "
    "supersedes the legacy function DLQ and records the error with the event.",
    checkov=("CKV_AWS_116",),
)
DEAD_LETTER_QUEUE = Waiver(
    ("AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"),
    "This queue is itself a dead-letter queue (rule targets, on-failure destinations); it has "
    "an alarm instead of a queue behind it.",
)
IAM_AUTHORIZED_API = Waiver(
    ("AwsSolutions-COG4",),
    "A staff route, authorized with IAM (SigV4): its callers are staff and operators' IAM roles, and a "
    "customer's user-pool token is refused there. The customer routes use the Cognito authorizer.",
)
OPTIONAL_CUSTOMER_MFA = Waiver(
    ("AwsSolutions-COG2", "AwsSolutions-COG3", "AwsSolutions-COG8"),
    "Customers may add a second factor (TOTP) but are not made to: a shop that demands MFA to order "
    "loses its customers. Threat protection (the Plus plan) is priced per active user; the API's own "
    "checks (owner on every read and write, prices from the catalog) bound what a stolen token does.",
)
NO_WAF = Waiver(
    ("AwsSolutions-APIG3",),
    "WAF is an account/edge decision with its own cost; the API is IAM-authorized, throttled "
    "and validates every body, and a WebACL can be associated without changing this stack.",
)
API_LOGGING_ROLE = Waiver(
    ("AwsSolutions-IAM4",),
    "The account-level role API Gateway writes execution and access logs with: "
    "AmazonAPIGatewayPushToCloudWatchLogs is the policy AWS defines for exactly that.",
)
TABLE_INDEXES = Waiver(
    ("AwsSolutions-IAM5",),
    "Access to this table's own indexes (the saga's sweep reads the read model's sparse 'pending' index): "
    "the wildcard is the index name under one table ARN.",
)
DISPOSABLE_DEV_TABLE = Waiver(
    ("AwsSolutions-DDB3",),
    "dev data is disposable and removed with the stack; prod enables point-in-time recovery on "
    "every table (tests/infra checks it).",
    checkov=("CKV_AWS_28",),
)

ALL = (
    XRAY_WRITES,
    STREAM_LISTING,
    PINNED_RUNTIME,
    SYNCHRONOUS_FUNCTION,
    ASYNC_WITH_DESTINATION,
    DEAD_LETTER_QUEUE,
    IAM_AUTHORIZED_API,
    OPTIONAL_CUSTOMER_MFA,
    NO_WAF,
    API_LOGGING_ROLE,
    TABLE_INDEXES,
    DISPOSABLE_DEV_TABLE,
)


# checkov checks skipped for the whole app, each for a reason that holds for every resource.
CHECKOV_SKIPS: dict[str, str] = {
    "CKV_AWS_27": "Queues are encrypted with SQS-managed keys (SSE-SQS); the check only recognises a KMS key.",
    "CKV_AWS_119": "Tables are encrypted at rest with the AWS-managed key; a customer key adds cost and key "
    "administration without a threat it answers here.",
    "CKV_AWS_158": "CloudWatch Logs encrypts every log group at rest; logs hold no secrets (bodies are not logged).",
    "CKV_AWS_117": "The functions reach only AWS APIs (DynamoDB, SQS, EventBridge, SES) over TLS with IAM; a VPC "
    "would add NAT cost and cold-start latency and protect nothing.",
    "CKV_AWS_173": "Environment variables hold table and bus names only, no secrets; Lambda encrypts them at rest.",
    "CKV_AWS_115": "The API is throttled at the gateway and consumers are bounded by reserved concurrency in prod "
    "(StageConfig); a per-function limit on every function would only add throttling.",
    "CKV_AWS_120": "Responses change with every event (order status, counters): a cache would serve stale state.",
}

# cfn-lint checks ignored, each with its reason.
CFN_LINT_IGNORES: dict[str, str] = {
    "W3005": "CDK makes each function depend on its role's policy so the policy exists first; the role half of "
    "that DependsOn duplicates the GetAtt, by design of CDK, and is harmless.",
}


def excuse(construct: IConstruct, exception: Waiver, *, applies_to: list | None = None, children: bool = False) -> None:
    """Suppress these rules on this resource (and its children when asked), for this reason;
    the checkov checks the same reason answers are skipped in the resource's metadata."""
    NagSuppressions.add_resource_suppressions(
        construct,
        [NagPackSuppression(id=rule, reason=exception.reason, applies_to=applies_to) for rule in exception.rules],
        apply_to_children=children,
    )
    resource = construct.node.default_child if not isinstance(construct, cdk.CfnResource) else construct
    if exception.checkov and isinstance(resource, cdk.CfnResource):
        skips = (resource.get_metadata("checkov") or {}).get("skip", [])
        skips += [{"id": check, "comment": exception.reason} for check in exception.checkov]
        resource.add_metadata("checkov", {"skip": skips})


def apply_checks(scope: cdk.App | cdk.Stack) -> None:
    cdk.Aspects.of(scope).add(AwsSolutionsChecks())
    cdk.Aspects.of(scope).add(ServerlessChecks())
