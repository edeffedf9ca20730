"""A function declares itself once: its handler module's Settings and its entry in
infra/consumers.py. The stacks derive its environment and grants from the two; the README's
worked example adds a consumer from those declarations alone."""

import ast
import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from common.settings import TABLE_SUFFIX, Access, Table
from infra.consumers import (
    CONSUMERS,
    FUNCTIONS,
    ConsumerSpec,
    FunctionSpec,
    NotSized,
    Recorded,
    ScheduledSpec,
    StreamReaderSpec,
    consumers_of,
)
from infra.tables import TABLES, Attribute, TableSpec
from tests.infra.conftest import CDK_CONTEXT, own_handler
from tests.support import aws

ROOT = Path(__file__).resolve().parents[2]
READS, WRITES = "dynamodb:GetItem", "dynamodb:PutItem"
# What every function is given whatever it declares (infra/constructs/platform_function.py).
PLATFORM = {
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "STAGE",
    "FAULT_INJECTION_HANDLER",
}  # the last on a stage with fault injection (dev): its own handler


def logical_id_of(template: Template, spec: FunctionSpec) -> str:
    [found] = [
        logical_id
        for logical_id, f in template.find_resources("AWS::Lambda::Function").items()
        if own_handler(f["Properties"]) == spec.handler
    ]
    return found


def function_of(template: Template, spec: FunctionSpec) -> dict:
    return template.find_resources("AWS::Lambda::Function")[logical_id_of(template, spec)]["Properties"]


def table_actions(template: Template, function: dict) -> dict[str, set[str]]:
    """The DynamoDB actions the function's role may take on each table's items, by logical id."""
    role = function["Role"]
    # A role of this stack is named by its Ref; one of the data stack (the outbox's, which the
    # bus policy names) by the ARN it exports, cut down to its name.
    named = json.dumps({"Ref": role["Fn::GetAtt"][0]} if "Fn::GetAtt" in role else role["Fn::ImportValue"])
    actions: dict[str, set[str]] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        if named not in json.dumps(policy["Properties"]["Roles"]):
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            granted = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            on_items = {a for a in granted if a.startswith("dynamodb:")}
            for logical_id in re.findall(r"FnGetAtt(\w+?)Arn[0-9A-F]{8}\"", json.dumps(statement["Resource"])):
                if on_items and logical_id in {table.logical_id for table in TABLES.values()}:
                    actions.setdefault(logical_id, set()).update(on_items)
    return actions


def expected_actions(access: Access) -> tuple[set[str], set[str]]:
    """What a table use must grant, and what it must not."""
    return {
        Access.READ: ({READS}, {WRITES}),
        Access.WRITE: ({WRITES}, {READS}),
        Access.READ_WRITE: ({READS, WRITES}, set()),
    }[access]


def assert_given_what_it_declares(template: Template, spec: FunctionSpec) -> None:
    function = function_of(template, spec)
    settings = spec.settings
    declared = {settings.variable(field) for field, use in settings.uses().items() if use is not None}
    assert set(function["Environment"]["Variables"]) - PLATFORM == declared, spec.name
    granted = table_actions(template, function)
    tables = settings.tables()
    assert set(granted) == {TABLES[key].logical_id for key in tables}, spec.name  # no other table
    for key, access in tables.items():
        must, must_not = expected_actions(access)
        assert must <= granted[TABLES[key].logical_id] and not must_not & granted[TABLES[key].logical_id], (
            spec.name,
            key,
        )


def test_each_function_is_given_the_environment_and_grants_its_settings_declare(dev):
    for spec in FUNCTIONS:
        assert_given_what_it_declares(dev.services, spec)


def test_the_check_sees_a_grant_the_settings_do_not_declare(dev):
    """The check above can fail: the Email consumer reads the event store; declared as writing
    it instead, the check refuses what the stack granted."""
    from common.settings import FunctionSettings, ReadWriteTable, SenderAddress, WriteTable

    class WritesTheStore(FunctionSettings):
        email_log_table_name: ReadWriteTable
        email_sender: SenderAddress
        event_store_table_name: WriteTable

    email = next(spec for spec in CONSUMERS if spec.name == "Email")
    assert_given_what_it_declares(dev.services, email)
    with pytest.raises(AssertionError):
        stand_in = SimpleNamespace(name=email.name, handler=email.handler, settings=WritesTheStore)
        assert_given_what_it_declares(dev.services, stand_in)  # type: ignore[arg-type]  # the fields it reads


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_stream_reader_and_schedule_is_started_as_declared(stage, request):
    """The capacity model and the bill count a stream reader by its table's shards and its batch
    size, and a scheduled function by its schedule: what the stacks wire is what they declare."""
    stacks = request.getfixturevalue(stage)
    readers = [spec for spec in FUNCTIONS if isinstance(spec, StreamReaderSpec)]
    scheduled = [spec for spec in FUNCTIONS if isinstance(spec, ScheduledSpec)]
    assert readers and scheduled
    mappings = stacks.services.find_resources("AWS::Lambda::EventSourceMapping").values()
    for spec in readers:
        [mapping] = [
            m["Properties"]
            for m in mappings
            if m["Properties"]["FunctionName"] == {"Ref": logical_id_of(stacks.services, spec)}
        ]
        assert mapping["BatchSize"] == spec.batch_size, spec.name
        stream = json.dumps(mapping["EventSourceArn"])
        assert re.search(rf"FnGetAtt{spec.table.logical_id}StreamArn[0-9A-F]{{8}}\"", stream), (spec.name, stream)
    rules = stacks.services.find_resources("AWS::Events::Rule").values()
    for schedule in scheduled:
        function = logical_id_of(stacks.services, schedule)
        [rule] = [
            r["Properties"]
            for r in rules
            if "ScheduleExpression" in r["Properties"]
            and any(t["Arn"] == {"Fn::GetAtt": [function, "Arn"]} for t in r["Properties"]["Targets"])
        ]
        minutes = schedule.every_minutes
        assert rule["ScheduleExpression"] == f"rate({minutes} minute{'s' if minutes > 1 else ''})", schedule.name


def test_the_tools_route_an_entry_as_the_synthesized_rules_do(dev):
    """consumers_of (what the chaos audit and the bill count on) against every rule's pattern:
    each catalog type from each platform source, and a type the catalog does not know."""
    from catalog import EventType, Source

    handlers = {f"{spec.name}": spec.handler for spec in CONSUMERS}
    functions = dev.services.find_resources("AWS::Lambda::Function")
    rules = {}
    for rule in dev.services.find_resources("AWS::Events::Rule").values():
        for target in rule["Properties"].get("Targets", []):
            arn = target["Arn"].get("Fn::GetAtt", [None])[0] if isinstance(target["Arn"], dict) else None
            if arn in functions and "EventPattern" in rule["Properties"]:
                rules[own_handler(functions[arn]["Properties"])] = rule["Properties"]["EventPattern"]
    assert set(rules) == set(handlers.values())

    def matched(source: str, detail_type: str) -> set[str]:
        return {
            name
            for name, handler in handlers.items()
            if source in rules[handler]["source"] and detail_type in rules[handler].get("detail-type", [detail_type])
        }

    for source in Source:
        for detail_type in [*(t.value for t in EventType), "ORDER_SHIPPED"]:
            assert set(consumers_of(detail_type, source.value)) == matched(source.value, detail_type), (
                source,
                detail_type,
            )
    assert consumers_of("ORDER_SHIPPED", "orders.service") == ["Audit"]  # the catch-all only


def test_every_table_field_names_a_declared_table():
    for spec in FUNCTIONS:
        for field, use in spec.settings.uses().items():
            if isinstance(use, Table):
                assert field.endswith(TABLE_SUFFIX) and field.removesuffix(TABLE_SUFFIX) in TABLES, (spec.name, field)


# ---- the README's worked example -----------------------------------------------------------


def readme_blocks() -> dict[str, str]:
    """The worked example's Python blocks, by the file their first line names."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Adding a consumer") : readme.index("## The order fulfilment saga")]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return {block.split(":")[0].removeprefix("# ").strip(): block for block in blocks}


@pytest.fixture
def loyalty(tmp_path, monkeypatch):
    """The README's consumer: its handler module on the path, its table declared, its spec."""
    blocks = readme_blocks()
    assert set(blocks) == {"lambdas/loyalty/handler.py", "infra/consumers.py", "infra/tables.py"}
    (tmp_path / "loyalty").mkdir()
    (tmp_path / "loyalty" / "__init__.py").write_text("")
    (tmp_path / "loyalty" / "handler.py").write_text(blocks["lambdas/loyalty/handler.py"])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "loyalty", raising=False)
    monkeypatch.delitem(sys.modules, "loyalty.handler", raising=False)
    declared: dict = {}
    exec(
        compile(blocks["infra/tables.py"], "README:infra/tables.py", "exec"),
        {"TableSpec": TableSpec, "Attribute": Attribute},
        declared,
    )
    [table] = [value for value in declared.values() if isinstance(value, TableSpec)]
    monkeypatch.setitem(TABLES, table.key, table)
    from catalog import EventType

    exec(
        compile(blocks["infra/consumers.py"], "README:infra/consumers.py", "exec"),
        {"ConsumerSpec": ConsumerSpec, "EventType": EventType, "Recorded": Recorded},
        declared,
    )
    [spec] = [value for value in declared.values() if isinstance(value, ConsumerSpec)]
    return spec, table


@pytest.fixture
def loyalty_declared(loyalty, monkeypatch):
    """The README's consumer in CONSUMERS, as its entry there would put it: the rules, the audit and
    the bench read the declarations when asked."""
    from infra import consumers as declared

    spec, table = loyalty
    monkeypatch.setattr(declared, "CONSUMERS", (*declared.CONSUMERS, spec))
    monkeypatch.setattr(declared, "FUNCTIONS", (*declared.FUNCTIONS, spec))
    return spec, table


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_readme_worked_example_is_a_consumer_built_from_its_declarations_alone(loyalty, stage):
    from app import build

    spec, table = loyalty
    assert ast.parse(readme_blocks()["lambdas/loyalty/handler.py"])  # the block is the module, whole
    app = cdk.App(context={**CDK_CONTEXT, "stage": stage})
    data_stack, services_stack = build(app, consumers=(*CONSUMERS, spec))
    data, services = Template.from_stack(data_stack), Template.from_stack(services_stack)

    # Its rule: ORDER_COMPLETED, from the service the catalog says publishes it, to its function.
    function_id = next(
        key
        for key, f in services.find_resources("AWS::Lambda::Function").items()
        if own_handler(f["Properties"]) == "loyalty.handler.handler"
    )
    [rule] = [
        r["Properties"]
        for r in services.find_resources("AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]
    assert rule["EventPattern"] == {"detail-type": ["ORDER_COMPLETED"], "source": ["orders.service"]}
    # Its environment and grants: its table's name, writes on that table, nothing else.
    assert_given_what_it_declares(services, spec)
    variables = function_of(services, spec)["Environment"]["Variables"]
    assert set(variables) - PLATFORM == {"LOYALTY_TABLE_NAME"}
    assert set(table_actions(services, function_of(services, spec))) == {table.logical_id}
    # Its table, and its dead-letter queue (with its alarm), in the data stack.
    assert table.logical_id in data.find_resources("AWS::DynamoDB::Table")
    assert "LoyaltyDeadLetterQueue" in data.find_resources("AWS::SQS::Queue")

    # prod reserves its concurrency from the estimate its entry declares, until the bench measures it
    reserved = function_of(services, spec).get("ReservedConcurrentExecutions")
    if stage == "prod":
        from infra.config import StageConfig, reserved_for

        target = StageConfig.for_stage("prod").target_orders_per_second
        assert target is not None
        assert reserved == reserved_for(spec.per_order_per_second, target)
    else:
        assert reserved is None


def test_a_consumer_neither_measured_nor_estimated_stops_prod_naming_it(loyalty):
    from dataclasses import replace

    from app import build

    spec, _ = loyalty
    unsized = replace(spec, per_order_per_second=None)
    build(cdk.App(context={**CDK_CONTEXT, "stage": "dev"}), consumers=(*CONSUMERS, unsized))  # dev reserves nothing
    with pytest.raises(NotSized, match="Loyalty: no concurrency measured"):
        build(cdk.App(context={**CDK_CONTEXT, "stage": "prod"}), consumers=(*CONSUMERS, unsized))


def test_the_chaos_audit_routes_to_the_readme_consumer_and_checks_its_effect_once(loyalty_declared):
    """What `make chaos` does with it: each ORDER_COMPLETED is owed to it, and its effect is found
    by its entry's `once` (its table's item of the event's order) for an order it awarded and
    missing for one it did not (which the audit then counts lost)."""
    import boto3

    from catalog import EventType, new_event
    from catalog.payloads import OrderCompleted
    from chaos.audit import own_writes
    from chaos.world import Scope, World

    spec, table = loyalty_declared
    assert "Loyalty" in consumers_of("ORDER_COMPLETED", "orders.service")
    assert "Loyalty" not in consumers_of("ORDER_CREATED", "orders.service")

    def completed(order_id: str) -> dict:
        event = new_event(
            EventType.ORDER_COMPLETED,
            aggregate_id=order_id,
            version=3,
            user_id="order-saga",
            correlation_id="chaos-x-loyalty-1",
            payload=OrderCompleted(orderId=order_id),
        )
        return {
            "eventId": str(event.eventId),
            "eventType": event.eventType,
            "aggregateId": order_id,
            "version": 3,
            "source": "orders.service",
            "detail": json.loads(event.to_json()),
        }

    with aws.moto():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**table.create_table("loyalty-points"))
        dynamodb.put_item(TableName="loyalty-points", Item={"orderId": {"S": "awarded"}, "points": {"N": "10"}})
        # a stand-in World: the outputs and the reads the audit uses, no cloud deployed
        world = SimpleNamespace(outputs={table.output: "loyalty-points"}, dynamodb=dynamodb)
        world.batch_get = lambda *args: World.batch_get(world, *args)  # type: ignore[arg-type]  # the stand-in
        events = [completed("awarded"), completed("forgotten")]
        scope = Scope("x", "chaos-x-", "x@example.com", "SKU-X", 0)
        found = own_writes(world, scope, events, consumers=(spec,))  # type: ignore[arg-type]  # the stand-in
    assert found == {("Loyalty", events[0]["eventId"])}


def test_the_bench_measures_the_readme_consumer_cold_and_warm(loyalty_declared, tmp_path, monkeypatch):
    """What `make bench` does with it: its first event (its spec's sample, stored first as the
    outbox would have) cold in a fresh interpreter, and its warm CPU against the same calls."""
    from bench import coldstart, warm

    spec, _ = loyalty_declared
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # where the loyalty fixture wrote its handler module
    assert warm.workload()["Loyalty"] == "order-completed"
    with coldstart.moto_server() as endpoint:
        cold = coldstart.probe(spec.name, spec.handler, coldstart.first_event(spec.name), endpoint)
    assert 0 < cold["importMs"] < cold["answerMs"] and cold["calls"] >= 1  # its award, at least
    hot = warm.measure_consumer(spec.name, 2)
    assert hot["cpuMsPerEvent"] > 0 and hot["awsCallsPerEvent"] >= 1


def test_every_consumer_says_how_the_audit_sees_its_effect_and_each_way_exists():
    from chaos.audit import CHECKS
    from infra.consumers import Checked

    for spec in CONSUMERS:
        match spec.once:
            case Recorded(table=table):
                assert table in TABLES, spec.name
            case Checked(name=name):
                assert name in CHECKS, spec.name
