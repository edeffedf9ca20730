"""Least privilege, checked. Every role's grants are the reviewed ones (infra/allowed-grants.txt),
so a widened grant fails here before it is deployed; the event store and the audit log are only
ever appended to; each function that appends only to its own streams is held to them by
dynamodb:LeadingKeys; and every DynamoDB call the functions make in a day of the platform (run
here on moto, which, like the local cloud, evaluates no IAM) is one their roles allow."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from importlib import import_module
from typing import Any

import pytest

from catalog import EventType, parse_event
from common.settings import Access
from infra.constructs.platform_function import XRAY_ACTIONS
from infra.consumers import FUNCTIONS, FunctionSpec, consumers_of
from infra.tables import EVENT_STORE, TABLES
from tests.infra import grants
from tests.support import aws

APPEND_ONLY = {spec.logical_id for spec in TABLES.values() if spec.append_only}
ON_AN_APPEND_ONLY_TABLE = {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:ConditionCheckItem"}
SPECS = {spec.name: spec for spec in FUNCTIONS}


def templates(stacks) -> list[dict]:
    return [template.to_json() for template in stacks.templates()]


@pytest.fixture(scope="module")
def lines(dev, prod) -> dict[str, set[str]]:
    return {"dev": grants.granted(templates(dev)), "prod": grants.granted(templates(prod))}


@pytest.fixture(scope="module")
def roles(dev) -> dict[str, str]:
    """Each function's role, by the function's name in infra/consumers.py."""
    by_handler = grants.role_of_each_function(templates(dev))
    return {spec.name: by_handler[spec.handler] for spec in FUNCTIONS}


# ---- the reviewed grants ---------------------------------------------------------------------


def check_against_the_reviewed(by_stage: dict[str, set[str]]) -> None:
    diff = grants.difference(grants.tagged(by_stage), grants.allowed())
    assert not diff, (
        "The roles' grants are not the reviewed ones in infra/allowed-grants.txt\n"
        "(+ granted and not allowed: a grant widened; - allowed and no longer granted):\n  "
        + "\n  ".join(diff)
        + f"\nIf every line is meant, accept them by regenerating the file and review its diff:\n  {grants.REGENERATE}"
    )


def test_every_roles_grants_are_the_reviewed_ones(lines):
    check_against_the_reviewed(lines)


def _policy_of(template: dict, logical_prefix: str) -> dict:
    [policy] = [
        resource
        for logical_id, resource in template["Resources"].items()
        if logical_id.startswith(logical_prefix) and resource["Type"] == "AWS::IAM::Policy"
    ]
    return policy


def test_the_check_fails_on_a_widened_grant_and_says_how_to_accept_it(dev, prod, lines):
    """Widened three ways on prod: an action added, a LeadingKeys condition dropped, a role given
    everything but one action; each is a `+` line, and the message says how to accept them."""
    widened = templates(prod)
    services = copy.deepcopy(widened[1])
    statements = _policy_of(services, "PaymentsHandlerRoleDefaultPolicy")["Properties"]["PolicyDocument"]["Statement"]
    [put] = [s for s in statements if s["Action"] == "dynamodb:PutItem" and "Condition" in s]  # on its streams
    table = put["Resource"]
    put.pop("Condition")
    statements.append({"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": table})
    statements.append({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    with pytest.raises(AssertionError) as refused:
        check_against_the_reviewed({"dev": lines["dev"], "prod": grants.granted([widened[0], services])})
    message = str(refused.value)
    for line in (
        "+ [prod] PaymentsHandlerRole dynamodb:DeleteItem EventStore.Arn",
        "+ [prod] PaymentsHandlerRole dynamodb:PutItem EventStore.Arn",
        "+ [prod] PaymentsHandlerRole NotAction:iam:* *",
    ):
        assert line in message
    assert grants.REGENERATE in message


def test_the_reviewed_file_is_what_the_renderer_writes(lines):
    """Regenerating it from unchanged stacks changes nothing, comments included."""
    assert grants.render(grants.tagged(lines)) == grants.ALLOWED.read_text()


# ---- append-only tables, and each writer's own streams ---------------------------------------


def test_the_event_store_the_audit_log_and_the_address_claims_are_only_ever_appended_to(lines):
    assert {"EventStore", "AuditLog", "UserEmails", "PaymentCalls"} == APPEND_ONLY
    for stage_lines in lines.values():
        on_them = [
            line.split(" ")
            for line in stage_lines  # on their items (not their streams)
            if re.match(rf"^({'|'.join(APPEND_ONLY)})\.Arn($|/)", line.split(" ")[2])
        ]
        assert on_them and {action for _, action, *_ in on_them} <= ON_AN_APPEND_ONLY_TABLE, on_them
    # the audit function may add to its log, never change or delete it
    audit = {line for line in lines["prod"] if line.startswith("AuditHandlerRole dynamodb:")}
    assert audit == {f"AuditHandlerRole dynamodb:{action} AuditLog.Arn" for action in ("GetItem", "Query", "PutItem")}
    # and an address claimed is never given to another user: the users API only puts claims
    claims = {line for line in lines["prod"] if " UserEmails.Arn" in line}
    assert claims == {"UsersApiRole dynamodb:PutItem UserEmails.Arn"}


def test_the_saga_writes_no_other_services_key_space(lines, roles):
    """Its own commands and the order's settlement, never a payment's, a reservation's, a user's or
    a product's stream (whose facts are those services' to write)."""
    for name in ("OrderSaga", "SagaSweep"):
        role = roles[name]
        for key in ("saga:o-1", "1b4e28ba-2fa1-11d2-883f-0016d3cca427"):
            assert grants.allows(lines["prod"], role, "dynamodb:PutItem", "EventStore.Arn", [key]), (name, key)
        for key in ("payment:o-1", "reservation:o-1", "user:u-1", "product:SKU-1"):
            assert not grants.allows(lines["prod"], role, "dynamodb:PutItem", "EventStore.Arn", [key]), (name, key)


# The streams each writer of the event store appends to, as the code names them (a prefix
# changed there must be changed, and migrated, here too); None: no condition, and why.
EXPECTED_APPENDS = {
    "Payments": "ForAllValues:StringLike:dynamodb:LeadingKeys=payment:*",  # eventstore/answers.py
    "InventoryReservations": "ForAllValues:StringLike:dynamodb:LeadingKeys=reservation:*",  # eventstore/answers.py
    "UsersApi": "ForAllValues:StringLike:dynamodb:LeadingKeys=user:*",  # users/service.py
    "InventoryApi": "ForAllValues:StringLike:dynamodb:LeadingKeys=product:*",  # inventory/stock.py
    "OrdersApi": "ForAllValues:StringNotLike:dynamodb:LeadingKeys=*:*",  # a UUID: no key space's
    # `saga:<orderId>`, and the order's own stream when it settles it: no other service's key space
    "OrderSaga": "ForAllValues:StringNotLike:dynamodb:LeadingKeys=payment:*,product:*,reservation:*,user:*",
    "SagaSweep": "ForAllValues:StringNotLike:dynamodb:LeadingKeys=payment:*,product:*,reservation:*,user:*",
}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_each_writer_of_the_event_store_puts_only_into_its_own_streams(stage, lines, roles):
    writers = {
        spec.name
        for spec in FUNCTIONS
        if spec.settings.tables().get(EVENT_STORE.key) in (Access.WRITE, Access.READ_WRITE)
    }
    assert writers == set(EXPECTED_APPENDS)
    for name, condition in EXPECTED_APPENDS.items():
        puts = {line for line in lines[stage] if line.startswith(f"{roles[name]} dynamodb:PutItem EventStore.Arn")}
        expected = f"{roles[name]} dynamodb:PutItem EventStore.Arn" + (f" {condition}" if condition else "")
        assert puts == {expected}, name
        spec = SPECS[name]
        assert (spec.appends_to is None) is (condition is None), name


def test_a_leading_keys_condition_is_evaluated_as_iam_does():
    """The evaluator the flows below rely on: every key must match (ForAllValues), a negated
    pattern none, and a condition it does not know is never met."""
    line = "R dynamodb:PutItem EventStore.Arn ForAllValues:StringLike:dynamodb:LeadingKeys=payment:*"
    assert grants.allows([line], "R", "dynamodb:PutItem", "EventStore.Arn", ["payment:o-1"])
    assert not grants.allows([line], "R", "dynamodb:PutItem", "EventStore.Arn", ["payment:o-1", "saga:o-1"])
    assert not grants.allows([line], "R", "dynamodb:PutItem", "EventStore.Arn", ["o-1"])
    assert not grants.allows([line], "R", "dynamodb:PutItem", "EventStore.Arn", None)  # keys unknown
    assert not grants.allows([line], "R", "dynamodb:UpdateItem", "EventStore.Arn", ["payment:o-1"])
    orders = "R dynamodb:PutItem EventStore.Arn ForAllValues:StringNotLike:dynamodb:LeadingKeys=*:*"
    assert grants.allows([orders], "R", "dynamodb:PutItem", "EventStore.Arn", ["1b4e28ba-2fa1-11d2-883f-0016d3cca427"])
    assert not grants.allows([orders], "R", "dynamodb:PutItem", "EventStore.Arn", ["payment:o-1"])
    other = "R dynamodb:PutItem EventStore.Arn StringEquals:aws:SourceVpc=vpc-1"
    assert not grants.allows([other], "R", "dynamodb:PutItem", "EventStore.Arn", ["o-1"])
    assert grants.allows(["R dynamodb:GetItem T.Arn/index/*"], "R", "dynamodb:GetItem", "T.Arn/index/pending", ["x"])


# ---- the X-Ray exception covers the two X-Ray actions, and nothing else ----------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_xray_exception_covers_a_policy_of_the_two_xray_actions_alone(stage, request):
    services = request.getfixturevalue(stage).services.to_json()["Resources"]
    excused = {}
    for logical_id, resource in services.items():
        for suppression in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
            if suppression["id"] == "AwsSolutions-IAM5" and "X-Ray" in suppression["reason"]:
                excused[logical_id] = (resource, suppression.get("applies_to"))
    functions = [f for f in services.values() if f["Type"] == "AWS::Lambda::Function"]
    assert len(excused) == len(functions)  # one Tracing policy each
    for logical_id, (resource, applies_to) in excused.items():
        assert resource["Type"] == "AWS::IAM::Policy" and applies_to == ["Resource::*"], logical_id
        assert resource["Properties"]["PolicyDocument"]["Statement"] == [
            {"Action": sorted(XRAY_ACTIONS), "Effect": "Allow", "Resource": "*"}
        ], logical_id
    for logical_id, resource in services.items():  # and the X-Ray actions are in no other policy
        if resource["Type"] == "AWS::IAM::Policy" and logical_id not in excused:
            assert "xray:" not in str(resource["Properties"]["PolicyDocument"]), logical_id


# ---- a day of the platform, every DynamoDB call checked against its caller's role ------------

_KINDS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}
_TABLE_OF_NAME = {aws.name_of(key): spec for key, spec in TABLES.items()}


def _value(attribute: Any) -> str:
    """A key's value, as the low-level client ({"S": ...}) or a boto3 resource (plain) passes it."""
    return str(next(iter(attribute.values()))) if isinstance(attribute, dict) else str(attribute)


def _resource(table_name: str, index: str | None = None) -> str:
    arn = f"{_TABLE_OF_NAME[table_name].logical_id}.Arn"
    return f"{arn}/index/{index}" if index else arn


def _key(table_name: str, item: dict) -> list[str]:
    return [_value(item[_TABLE_OF_NAME[table_name].partition.name])]


def _queried(table_name: str, params: dict) -> list[str] | None:
    """The partition a Query reads (None when the expression does not say it plainly)."""
    expression = params.get("KeyConditionExpression")
    if params.get("IndexName") or not isinstance(expression, str):
        return None
    found = re.search(rf"\b{_TABLE_OF_NAME[table_name].partition.name} = (:\w+)", expression)
    return [_value(params["ExpressionAttributeValues"][found.group(1)])] if found else None


def touched(operation: str, params: dict) -> Iterator[tuple[str, str, list[str] | None]]:
    """(IAM action, resource, partition keys) for each item one DynamoDB call acts on: a
    transaction or a batch is authorised item by item, each by its own action."""
    table = str(params.get("TableName"))
    match operation:
        case "PutItem":
            yield "dynamodb:PutItem", _resource(table), _key(table, params["Item"])
        case "GetItem" | "UpdateItem" | "DeleteItem":
            yield f"dynamodb:{operation}", _resource(table), _key(table, params["Key"])
        case "Query":
            yield "dynamodb:Query", _resource(table, params.get("IndexName")), _queried(table, params)
        case "TransactWriteItems":
            for action in params["TransactItems"]:
                [(kind, body)] = action.items()
                yield (
                    f"dynamodb:{_KINDS[kind]}",
                    _resource(body["TableName"]),
                    _key(body["TableName"], body.get("Item") or body["Key"]),
                )
        case "BatchGetItem":
            for name, wanted in params["RequestItems"].items():
                for key in wanted["Keys"]:
                    yield "dynamodb:BatchGetItem", _resource(name), _key(name, key)
        case "BatchWriteItem":
            for name, requests in params["RequestItems"].items():
                for request in requests:
                    [(kind, body)] = request.items()
                    yield "dynamodb:BatchWriteItem", _resource(name), _key(name, body.get("Item") or body["Key"])
        case _:
            yield f"dynamodb:{operation}", _resource(table, params.get("IndexName")) if table else "*", None


class Calls:
    """Every DynamoDB call made while a function runs, with the role it runs as."""

    def __init__(self) -> None:
        self.role: str | None = None
        self.made: list[tuple[str, str, str, str, list[str] | None]] = []  # role, operation, action, resource, keys

    def wrap(self, make_api_call):
        calls = self

        def recorded(client, operation, params):
            if calls.role and client.meta.service_model.service_name == "dynamodb":
                for action, resource, keys in touched(operation, params):
                    calls.made.append((calls.role, operation, action, resource, keys))
            return make_api_call(client, operation, params)

        return recorded


@pytest.fixture
def platform(monkeypatch, lambda_context, roles):
    from botocore.client import BaseClient

    for variable, value in aws.environment().items():
        monkeypatch.setenv(variable, value)
    aws.send_only_what_was_not_answered(monkeypatch)
    calls = Calls()
    monkeypatch.setattr(BaseClient, "_make_api_call", calls.wrap(BaseClient._make_api_call))
    with aws.moto():
        aws.create_tables()
        yield Platform(calls, roles, lambda_context)


class Platform:
    """The functions' handlers, each run as its role; the store's new events delivered to the
    consumers the rules route them to, as the outbox would put them on the bus."""

    def __init__(self, calls: Calls, roles: dict[str, str], context):
        self.calls, self.roles, self.context = calls, roles, context
        self.delivered: set[str] = set()

    def run(self, spec: FunctionSpec, *args):
        module, _, name = spec.handler.rpartition(".")
        self.calls.role = self.roles[spec.name]
        try:
            return getattr(import_module(module), name)(*args)
        finally:
            self.calls.role = None

    def api(self, name: str, method: str, path: str, body: Any = None, **kw):
        """One request to an API function, which must succeed."""
        from tests.support.api import call

        response = call(
            lambda event, context: self.run(SPECS[name], event, context), self.context, method, path, body=body, **kw
        )
        assert 200 <= response.status < 300, (name, method, path, response.status, response.body)
        return response.body

    def stored(self) -> list:
        import boto3

        items = boto3.client("dynamodb").scan(TableName=aws.EVENT_STORE, ConsistentRead=True)["Items"]
        return sorted((parse_event(item["detail"]["S"]) for item in items), key=lambda e: (e.timestamp, e.version))

    def deliver(self, *, holding: tuple[EventType, ...] = ()) -> None:
        """Every stored event not delivered yet (but those of the types held back), to each of its
        consumers, until none is left."""
        from tests.support.orders import bus_event

        for _ in range(50):
            due = [e for e in self.stored() if str(e.eventId) not in self.delivered and e.eventType not in holding]
            if not due:
                return
            for envelope in due:
                self.delivered.add(str(envelope.eventId))
                for name in consumers_of(envelope.eventType):
                    self.run(SPECS[name], bus_event(envelope), self.context)
        raise AssertionError("the consumers kept appending")

    def fold_analytics(self) -> None:
        self.run(SPECS["AnalyticsFold"], {"Records": aws.stream_records(aws.ANALYTICS_EVENTS)}, self.context)


def test_every_dynamodb_call_of_a_day_of_the_platform_is_allowed_by_its_callers_role(platform, lines):
    """Registration, stock, a completed order, one cancelled for want of stock (a refund), one
    cancelled by its customer after its stock was reserved (a release and a refund), one timed out
    by the sweep, and every read route: each call, item by item, against the prod stage's grants."""
    staff = {"customer": None}
    platform.api("UsersApi", "POST", "/users", {"name": "Ada"})
    platform.api("UsersApi", "GET", "/users/cust-1")
    for product, quantity in (("SKU-1", 10), ("SKU-2", 1)):
        platform.api("InventoryApi", "PUT", f"/inventory/{product}", {"quantity": quantity}, **staff)
        platform.api("InventoryApi", "PUT", f"/inventory/{product}/prices", {"prices": {"EUR": "19.99"}}, **staff)
    platform.api("InventoryApi", "GET", "/inventory/SKU-1", **staff)
    platform.deliver()

    line = {"productId": "SKU-1", "quantity": 1, "price": "19.99"}
    completed = platform.api(
        "OrdersApi", "POST", "/orders", {"items": [line]}, headers={"Idempotency-Key": "checkout-1"}
    )
    platform.api("OrdersApi", "PUT", f"/orders/{completed['orderId']}", {"items": [line, line], "expectedVersion": 1})
    platform.deliver()
    short = platform.api("OrdersApi", "POST", "/orders", {"items": [{**line, "productId": "SKU-2", "quantity": 5}]})
    platform.deliver()
    regretted = platform.api("OrdersApi", "POST", "/orders", {"items": [line]})
    platform.deliver(holding=(EventType.INVENTORY_UPDATED,))
    platform.api("OrdersApi", "POST", f"/orders/{regretted['orderId']}/cancel", {"reason": "changed my mind"})
    platform.deliver()
    waiting = platform.api("OrdersApi", "POST", "/orders", {"items": [line]})
    platform.deliver(holding=(EventType.PAYMENT_REQUESTED,))  # no answer: the sweep times its saga out
    platform.run(SPECS["SagaSweep"], {"timeoutSeconds": 0}, platform.context)
    platform.deliver()
    platform.fold_analytics()
    for order in (completed, short, regretted, waiting):
        platform.api("OrdersApi", "GET", f"/orders/{order['orderId']}")
        platform.api("OrdersApi", "GET", f"/orders/{order['orderId']}/events")
    [first] = [e for e in platform.stored() if e.aggregateId == completed["orderId"] and e.version == 1]
    platform.api("AnalyticsApi", "GET", "/analytics/daily", query={"date": first.timestamp.date().isoformat()}, **staff)
    platform.api("AuditApi", "GET", f"/audit/{first.metadata.correlationId}", **staff)

    outcomes = {
        e.aggregateId: e.eventType for e in platform.stored() if e.eventType in ("ORDER_COMPLETED", "ORDER_CANCELLED")
    }
    assert [outcomes[order["orderId"]] for order in (completed, short, regretted, waiting)] == [
        "ORDER_COMPLETED",
        "ORDER_CANCELLED",
        "ORDER_CANCELLED",
        "ORDER_CANCELLED",
    ]
    types = {e.eventType for e in platform.stored()}
    assert {
        "ORDER_COMPLETED",
        "ORDER_CANCELLED",
        "PAYMENT_REFUNDED",
        "INVENTORY_RELEASED",
        "INVENTORY_INSUFFICIENT",
        "USER_REGISTERED",
        "INVENTORY_ADJUSTED",
    } <= types  # every path was taken
    callers = {role for role, *_ in platform.calls.made}
    assert {platform.roles[name] for name in EXPECTED_APPENDS} <= callers  # every writer wrote
    checkers = {role for role, _, action, *_ in platform.calls.made if action == "dynamodb:ConditionCheckItem"}
    assert {platform.roles["OrdersApi"], platform.roles["OrderSaga"]} <= checkers  # an update; a request
    refused = [call for call in platform.calls.made if not grants.allows(lines["prod"], call[0], *call[2:])]
    assert refused == [], "\n".join(
        f"{role}: {operation} needs {action} on {resource} for keys {keys}"
        for role, operation, action, resource, keys in refused
    )


def test_the_day_would_be_refused_by_a_role_without_its_appends(platform, lines, roles):
    """The check above can fail: without the Payments function's conditioned PutItem, its
    answers are refused; with a condition naming another key space, too."""
    without = {line for line in lines["prod"] if not line.startswith(f"{roles['Payments']} dynamodb:PutItem")}
    elsewhere = without | {
        f"{roles['Payments']} dynamodb:PutItem EventStore.Arn "
        "ForAllValues:StringLike:dynamodb:LeadingKeys=reservation:*"
    }
    platform.api("InventoryApi", "PUT", "/inventory/SKU-1", {"quantity": 3}, customer=None)
    platform.api("InventoryApi", "PUT", "/inventory/SKU-1/prices", {"prices": {"EUR": "19.99"}}, customer=None)
    platform.api("OrdersApi", "POST", "/orders", {"items": [{"productId": "SKU-1", "quantity": 1, "price": "19.99"}]})
    platform.deliver()
    answers = [
        call
        for call in platform.calls.made
        if call[0] == roles["Payments"] and call[2:4] == ("dynamodb:PutItem", "EventStore.Arn")
    ]
    assert answers and all(call[4][0].startswith("payment:") for call in answers)
    for policy in (without, elsewhere):
        assert not any(grants.allows(policy, call[0], *call[2:]) for call in answers)
    assert all(grants.allows(lines["prod"], call[0], *call[2:]) for call in answers)
