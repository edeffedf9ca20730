"""What the synthesized templates promise: safety nets on every hop, least privilege, pinned data."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match

from catalog import CATALOG, ORDER_EVENTS, PAYMENT_ANSWERS, Source
from infra.consumers import CONSUMERS, HTTP_SERVICES
from tests.infra.conftest import own_handler


def resources(template, type_: str) -> dict:
    return template.find_resources(type_)


def test_every_rule_target_has_a_retry_policy_and_a_dead_letter_queue(dev):
    rules = resources(dev.services, "AWS::Events::Rule")
    assert len(rules) == len(CONSUMERS) + 1  # and the saga sweep's schedule
    for rule in rules.values():
        for target in rule["Properties"]["Targets"]:
            assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] > 0
            assert "Arn" in target["DeadLetterConfig"]


def test_every_async_function_has_retries_and_an_on_failure_destination(dev):
    configs = resources(dev.services, "AWS::Lambda::EventInvokeConfig")
    assert len(configs) == len(CONSUMERS) + 1  # and the saga sweep, which the next tick retries
    for config in configs.values():
        props = config["Properties"]
        assert props["MaximumRetryAttempts"] in (0, 2)
        assert "Destination" in props["DestinationConfig"]["OnFailure"]


def test_the_stream_source_bisects_reports_item_failures_and_parks_failures(dev):
    dev.services.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "BisectBatchOnFunctionError": True,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "MaximumRetryAttempts": Match.any_value(),
            "DestinationConfig": {"OnFailure": {"Destination": Match.any_value()}},
            "StartingPosition": "TRIM_HORIZON",
        },
    )


def test_the_projection_rule_routes_exactly_the_order_events_and_the_payments_answers(dev):
    dev.services.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["orders.service", "payments.service"],
                "detail-type": [t.value for t in (*ORDER_EVENTS, *PAYMENT_ANSWERS)],
            }
        },
    )
    assert {CATALOG[t].source.value for t in ORDER_EVENTS} == {"orders.service"}
    assert {CATALOG[t].source.value for t in PAYMENT_ANSWERS} == {"payments.service"}


def test_no_iam_statement_has_a_wildcard_action(dev, prod):
    for synthesized in (dev, prod):
        for template in synthesized.templates():
            for policy in resources(template, "AWS::IAM::Policy").values():
                for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    assert all(action != "*" and not action.endswith(":*") for action in actions), statement


def test_each_function_has_its_own_role(dev):
    # A role of this stack (GetAtt), or the outbox's, which lives with the bus whose policy names it
    # (imported from the data stack).
    functions = resources(dev.services, "AWS::Lambda::Function")
    roles = [json.dumps(fn["Properties"]["Role"], sort_keys=True) for fn in functions.values()]
    assert len(set(roles)) == len(roles) == len(functions)


def test_stateful_logical_ids_are_pinned(dev):
    # Renaming any of these replaces the resource, and with it the data: never change them.
    expected = {
        "AWS::DynamoDB::Table": {
            "EventStore",
            "OrdersReadModel",
            "IdempotencyRecords",
            "UserEmails",
            "Inventory",
            "EmailLog",
            "PaymentCalls",
            "SimulatedCardNetwork",
            "AnalyticsDaily",
            "AnalyticsEvents",
            "AuditLog",
        },
        "AWS::SNS::Topic": {"AlarmTopic"},
        "AWS::Events::EventBus": {"EventBus"},
        "AWS::Events::Archive": {"EventArchive"},
        "AWS::SQS::Queue": {
            "PublisherDeadLetterQueue",
            "SagaSweepDeadLetterQueue",
            "AnalyticsFoldDeadLetterQueue",
            *(f"{c.name}DeadLetterQueue" for c in CONSUMERS),
        },
    }
    for type_, ids in expected.items():
        assert set(resources(dev.data, type_)) == ids


def test_stateful_resources_live_only_in_the_data_stack(dev):
    for type_ in (
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::Events::EventBus",
        "AWS::Events::Archive",
        "AWS::SNS::Topic",
    ):
        assert resources(dev.services, type_) == {}


def test_the_event_store_is_keyed_by_aggregate_and_version_and_streams_new_images(dev):
    dev.data.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [
                {"AttributeName": "aggregateId", "KeyType": "HASH"},
                {"AttributeName": "version", "KeyType": "RANGE"},
            ],
            "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
        },
    )


def test_the_bus_has_an_archive(dev):
    dev.data.has_resource_properties(
        "AWS::Events::Archive", {"SourceArn": {"Fn::GetAtt": ["EventBus", "Arn"]}, "RetentionDays": 30}
    )


def test_prod_retains_data_and_protects_it(prod):
    assert prod.data_stack.termination_protection
    for table in resources(prod.data, "AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Retain"
        assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert resources(prod.data, "AWS::DynamoDB::Table")["EventStore"]["Properties"]["DeletionProtectionEnabled"] is True
    for queue in resources(prod.data, "AWS::SQS::Queue").values():
        assert queue["DeletionPolicy"] == "Retain"


def test_dev_can_be_torn_down(dev):
    assert not dev.data_stack.termination_protection
    for table in resources(dev.data, "AWS::DynamoDB::Table").values():
        assert table["DeletionPolicy"] == "Delete"


def test_dead_letter_queues_accept_only_rules_of_this_bus(dev):
    for policy in resources(dev.data, "AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        sends = [s for s in statements if s["Action"] == "sqs:SendMessage"]
        assert sends and all(s["Principal"] == {"Service": "events.amazonaws.com"} for s in sends)
        assert all("ArnLike" in s["Condition"] for s in sends)


@pytest.mark.parametrize(
    "name",
    [
        "ApiUrl",
        "PublisherFunctionName",
        "OrdersApiFunctionName",
        "EmailFunctionName",
        "AnalyticsLogGroupName",
        "AuditApiFunctionName",
    ],
)
def test_outputs_name_what_a_user_needs(dev, name):
    assert name in dev.services.find_outputs("*")


def test_functions_use_python_312_with_active_tracing_and_log_retention(dev):
    for fn in resources(dev.services, "AWS::Lambda::Function").values():
        assert fn["Properties"]["Runtime"] == "python3.12"
        # the outbox passes each event's own trace on (TraceHeader) and starts none of its own
        outbox = own_handler(fn["Properties"]) == "publisher.handler.handler"
        assert fn["Properties"]["TracingConfig"] == {"Mode": "PassThrough" if outbox else "Active"}
        # no tracing SDK runs in a function (lambdas/common/tracing.py): nothing to switch off
        assert "POWERTOOLS_TRACE_DISABLED" not in fn["Properties"]["Environment"]["Variables"]
    for group in resources(dev.services, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == 7


def test_every_dead_letter_queue_has_an_alarm_that_notifies_the_topic(dev):
    queues = resources(dev.data, "AWS::SQS::Queue")
    alarms = resources(dev.data, "AWS::CloudWatch::Alarm")
    watched = {alarm["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0] for alarm in alarms.values()}
    assert watched == set(queues)
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_consumers_rules_route_what_the_registry_says(dev):
    rules = resources(dev.services, "AWS::Events::Rule").values()
    patterns = [rule["Properties"]["EventPattern"] for rule in rules if "EventPattern" in rule["Properties"]]
    for spec in CONSUMERS:
        if spec.catch_all:  # every source of the platform, whatever the type
            assert {"source": sorted(s.value for s in Source)} in patterns, spec.name
            continue
        expected = sorted(t.value for t in spec.event_types)
        assert any(sorted(p.get("detail-type", [])) == expected for p in patterns), spec.name


def test_only_the_orders_api_may_touch_the_idempotency_table(dev):
    """Every consumer is exactly-once by a write of its own; the idempotency records are the API's
    (the Idempotency-Key of POST /orders)."""
    from orders.api import Settings

    functions = resources(dev.services, "AWS::Lambda::Function").values()
    given = {
        own_handler(f["Properties"])
        for f in functions
        if Settings.variable("idempotency_table_name") in f["Properties"]["Environment"]["Variables"]
    }
    assert given == {"orders.api.handler"}


def test_no_function_is_given_a_fault_injection_switch(dev, prod):
    from platform_faults.switches import SWITCHES

    for synthesized in (dev, prod):
        for fn in resources(synthesized.services, "AWS::Lambda::Function").values():
            assert not set(SWITCHES) & set(fn["Properties"]["Environment"]["Variables"])


def test_prod_carries_no_fault_injection_and_dev_runs_every_function_through_it(dev, prod):
    """The fault-injection layer and its wrapper on dev's functions only: prod's template names
    neither (no layer, no wrapper, no FAULT_INJECTION variable), and the code asset every
    function shares (lambdas/) holds no fault code."""
    from infra.constructs.platform_function import FAULT_HANDLER_VARIABLE, FAULT_WRAPPER, LAMBDAS_DIR
    from platform_faults.switches import HANDLER

    assert FAULT_HANDLER_VARIABLE == HANDLER and FAULT_WRAPPER == "platform_faults.wrapper.handler"
    for template in (prod.data, prod.services):
        text = json.dumps(template.to_json())
        assert "FAULT_INJECTION" not in text and "platform_faults" not in text
        assert not template.find_resources("AWS::Lambda::LayerVersion")
    [layer_id] = dev.services.find_resources("AWS::Lambda::LayerVersion")
    for fn in resources(dev.services, "AWS::Lambda::Function").values():
        props = fn["Properties"]
        assert props["Handler"] == FAULT_WRAPPER and props["Environment"]["Variables"][HANDLER].count(".") >= 1
        assert {"Ref": layer_id} in props["Layers"]
    shipped = [path for path in LAMBDAS_DIR.rglob("*.py") if "__pycache__" not in path.parts]
    assert shipped and not [
        path for path in shipped if "FAULT_INJECTION" in path.read_text() or "platform_faults" in path.read_text()
    ]
    assert not (LAMBDAS_DIR / "common" / "faults.py").exists()


def test_the_email_consumer_may_send_only_as_the_stage_sender(dev):
    from notifications.handler import Settings

    dev.services.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {
                        Settings.variable("email_sender"): "orders@dev.order-platform.example.com",
                        "FAULT_INJECTION_HANDLER": "notifications.handler.handler",  # dev: through the wrapper
                    }
                )
            },
        },
    )
    statements = [
        s
        for p in resources(dev.services, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    sends = [
        s for s in statements if "ses:SendEmail" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert sends and all(s["Resource"] != "*" for s in sends)


def test_the_dashboard_shows_every_consumer(dev):
    [dashboard] = resources(dev.services, "AWS::CloudWatch::Dashboard").values()
    body = json_text(dashboard["Properties"]["DashboardBody"])
    for spec in CONSUMERS:
        assert f"{spec.name}: dead letters" in body


def json_text(value) -> str:
    """A CloudFormation string that may be an Fn::Join of parts, as one text."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(json_text(part) for part in value["Fn::Join"][1])
    return ""


def test_the_saga_sweep_runs_every_minute(dev):
    dev.services.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    from saga.sweep import Settings

    dev.services.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Environment": {
                "Variables": Match.object_like(
                    {Settings.variable("saga_timeout_seconds"): "300", "FAULT_INJECTION_HANDLER": "saga.sweep.handler"}
                )
            },
        },
    )


def test_cdk_nag_finds_nothing_unsuppressed(dev, prod):
    from aws_cdk.assertions import Annotations

    for synthesized in (dev, prod):
        for stack in (synthesized.data_stack, synthesized.services_stack):
            findings = Annotations.from_stack(stack).find_error(
                "*", Match.string_like_regexp("(AwsSolutions|Serverless)-")
            )
            assert findings == [], [f"{f.id}: {str(f.entry.data)[:160]}" for f in findings]


def test_prod_reserves_for_each_consumer_what_the_capacity_model_asks_at_its_target_and_dev_nothing(dev, prod):
    from infra.config import CONCURRENCY, RESERVED_HEADROOM, StageConfig

    target = StageConfig.for_stage("prod").target_orders_per_second
    by_handler = {c.handler: c.name for c in CONSUMERS}
    reserved = {}
    for synthesized, stage in ((prod, "prod"), (dev, "dev")):
        for fn in resources(synthesized.services, "AWS::Lambda::Function").values():
            if own_handler(fn["Properties"]) in by_handler:
                reserved[stage, by_handler[own_handler(fn["Properties"])]] = fn["Properties"].get(
                    "ReservedConcurrentExecutions"
                )
    for consumer in CONSUMERS:
        assert reserved["dev", consumer.name] is None
        needed = CONCURRENCY["perOrderPerSecond"][consumer.name] * target  # rate x measured duration
        assert needed * RESERVED_HEADROOM <= reserved["prod", consumer.name] <= max(needed * RESERVED_HEADROOM + 1, 2)
    # the busiest consumer gets the most, and all of them fit a new account with 100 left unreserved
    busiest = max(CONSUMERS, key=lambda c: CONCURRENCY["perOrderPerSecond"][c.name])
    assert reserved["prod", busiest.name] == max(reserved[key] for key in reserved if key[0] == "prod")
    assert sum(reserved[key] for key in reserved if key[0] == "prod") <= 1000 - 100


def test_every_route_requires_authorization_and_bodies_are_validated(dev):
    # which door each route has (a customer's token or a staff signature): test_trust_boundaries.py
    methods = resources(dev.services, "AWS::ApiGateway::Method").values()
    assert methods and all(m["Properties"]["AuthorizationType"] in ("AWS_IAM", "COGNITO_USER_POOLS") for m in methods)
    assert all("RequestValidatorId" in m["Properties"] for m in methods)
    dev.services.has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
            "MethodSettings": [
                Match.object_like(
                    {
                        "LoggingLevel": "INFO",
                        "DataTraceEnabled": False,
                        "ThrottlingRateLimit": 100,
                        "ThrottlingBurstLimit": 200,
                    }
                )
            ],
        },
    )


def test_the_bus_takes_events_from_this_account_only(dev):
    [bus] = resources(dev.data, "AWS::Events::EventBus").values()
    [statement] = [s for s in bus["Properties"]["Policy"]["Statement"] if s["Effect"] == "Allow"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Principal"]["AWS"]["Fn::Join"][1][-1] == ":root"


def test_queues_and_topics_are_encrypted_and_refuse_plain_http(dev):
    for queue in resources(dev.data, "AWS::SQS::Queue").values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    [topic] = resources(dev.data, "AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"]
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for t in ("AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy")
        for p in resources(dev.data, t).values()
    ]
    assert policies and all(
        any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements)
        for statements in policies
    )


def test_no_function_role_has_a_managed_policy(dev):
    roles = resources(dev.services, "AWS::IAM::Role")
    lambda_roles = [
        r
        for r in roles.values()
        if r["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"].get("Service")
        == "lambda.amazonaws.com"
    ]
    assert lambda_roles and all("ManagedPolicyArns" not in r["Properties"] for r in lambda_roles)


def test_the_schema_registry_holds_every_event_types_current_schema(dev):
    import json as _json

    from catalog import CATALOG
    from catalog.schemas import schema_of

    schemas = resources(dev.data, "AWS::EventSchemas::Schema").values()
    by_name = {s["Properties"]["SchemaName"]: _json.loads(s["Properties"]["Content"]) for s in schemas}
    assert by_name == {f"{spec.source.value}@{t.value}": schema_of(t) for t, spec in CATALOG.items()}
    assert all(s["Properties"]["Type"] == "JSONSchemaDraft4" for s in schemas)


@pytest.mark.parametrize("stage, system_level", [("dev", "INFO"), ("prod", "WARN")])
def test_every_function_runs_on_arm64_with_json_logs_at_the_stages_levels(request, stage, system_level):
    functions = resources(request.getfixturevalue(stage).services, "AWS::Lambda::Function")
    assert len(functions) == len(CONSUMERS) + 8  # the APIs, the publisher, the sweep and the fold too
    for function in functions.values():
        props = function["Properties"]
        assert props["Architectures"] == ["arm64"]
        assert props["LoggingConfig"]["LogFormat"] == "JSON"
        assert props["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
        assert props["LoggingConfig"]["SystemLogLevel"] == system_level
        assert props["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == "INFO"
        api = own_handler(props) in {service.handler for service in HTTP_SERVICES}
        assert props["MemorySize"] == (256 if api else 160)
