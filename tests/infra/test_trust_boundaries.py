"""The doors of the synthesized stacks, as a reviewer reads them in the templates: which routes
take a customer's token and which an IAM signature, and who may speak for the services on the
bus. The local cloud does not evaluate IAM policies, so these are pinned here."""

from __future__ import annotations

import json

import pytest

from catalog import Source
from infra.consumers import HTTP_SERVICES, PUBLISHER, Door
from tests.infra.conftest import own_handler


def _only(template, type_: str) -> tuple[str, dict]:
    [(logical_id, resource)] = template.find_resources(type_).items()
    return logical_id, resource


def _methods(template) -> dict[tuple[str, str], dict]:
    """Each API method by (HTTP method, the resource's last path part)."""
    resources = template.find_resources("AWS::ApiGateway::Resource")
    found = {}
    for method in template.find_resources("AWS::ApiGateway::Method").values():
        props = method["Properties"]
        if props["HttpMethod"] == "OPTIONS":
            continue
        part = resources[props["ResourceId"]["Ref"]]["Properties"]["PathPart"]
        found[(props["HttpMethod"], part)] = props
    return found


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_customer_routes_take_the_user_pools_token_and_staff_routes_iam(stage, request):
    stacks = request.getfixturevalue(stage)
    methods = _methods(stacks.services)
    authorizer_id, authorizer = _only(stacks.services, "AWS::ApiGateway::Authorizer")
    assert authorizer["Properties"]["Type"] == "COGNITO_USER_POOLS"
    assert authorizer["Properties"]["IdentitySource"] == "method.request.header.Authorization"
    [pool] = authorizer["Properties"]["ProviderARNs"]
    assert "CustomerPool" in json.dumps(pool)  # the platform's own pool, and only it
    for service in HTTP_SERVICES:
        for method, path in service.routes:
            props = methods[(method, path.rstrip("/").rsplit("/", 1)[1])]
            if service.door is Door.CUSTOMER:
                assert props["AuthorizationType"] == "COGNITO_USER_POOLS", (method, path)
                assert props["AuthorizerId"] == {"Ref": authorizer_id}
            else:
                assert props["AuthorizationType"] == "AWS_IAM", (method, path)
                assert "AuthorizerId" not in props
    assert {m["AuthorizationType"] for m in methods.values()} == {"COGNITO_USER_POOLS", "AWS_IAM"}  # no NONE


def _bus_policy(stacks) -> list[dict]:
    return stacks.data.find_resources("AWS::Events::EventBus")["EventBus"]["Properties"]["Policy"]["Statement"]


def test_on_prod_only_the_outboxs_role_may_put_the_platforms_sources_on_the_bus(prod):
    allow, deny = _bus_policy(prod)
    assert (allow["Effect"], allow["Sid"]) == ("Allow", "OnlyThisAccountPublishes")
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"} and deny["Action"] == "events:PutEvents"
    assert deny["Condition"]["StringEquals"] == {"events:source": sorted(s.value for s in Source)}  # every one
    speakers = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert speakers == [{"Fn::GetAtt": [_role_id(prod, "PublisherRole"), "Arn"]}]
    assert "BusOperatorRoleArn" not in json.dumps(prod.data.to_json()["Outputs"])
    # the outbox's function runs as that role: the one that puts the store's events on the bus
    [publisher] = [
        f
        for f in prod.services.find_resources("AWS::Lambda::Function").values()
        if own_handler(f["Properties"]) == PUBLISHER.handler
    ]
    assert "PublisherRole" in json.dumps(publisher["Properties"]["Role"])


def test_on_dev_the_operators_role_may_put_events_by_hand_too(dev):
    _, deny = _bus_policy(dev)
    speakers = deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert speakers == [
        {"Fn::GetAtt": [_role_id(dev, "PublisherRole"), "Arn"]},
        {"Fn::GetAtt": [_role_id(dev, "BusOperatorRole"), "Arn"]},
    ]


def test_no_other_function_may_put_events_on_the_bus(prod):
    """The bus policy's Deny holds whatever an identity policy says; this keeps the identity
    policies honest too: PutEvents is the publisher's grant alone."""
    publisher_policies = []
    for logical_id, policy in prod.services.find_resources("AWS::IAM::Policy").items():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any("events:PutEvents" in json.dumps(s.get("Action")) for s in statements):
            publisher_policies.append(logical_id)
    assert publisher_policies and all(logical_id.startswith("PublisherRolePolicy") for logical_id in publisher_policies)


def _role_id(stacks, name: str) -> str:
    [logical_id] = [i for i in stacks.data.find_resources("AWS::IAM::Role") if i.startswith(name)]
    return logical_id
