"""What each IAM role of the synthesized stacks is granted, as lines a reviewer reads:

    <role> <action> <resource> [<condition>]

one line per action, resource and condition of every Allow statement of the role's policies (and
one per principal its trust policy lets assume it, as `<role> sts:AssumeRole principal:<kind>=<who>`):
the role and the resources by their logical ids less CDK's hash (`PaymentsHandlerRole`,
`EventStore.Arn`), an imported value by what the other stack exported, a managed policy as the
action `managed-policy`. A line granted on one stage only starts with that stage (`[dev] ...`).

infra/allowed-grants.txt holds the lines allowed, and tests/infra/test_grants.py fails on any
difference: a widened grant is a `+` line there until a reviewer accepts it by regenerating the
file (and a narrowed one a `-` line, so that the file stays the truth):

    .venv/bin/python -m tests.infra.grants > infra/allowed-grants.txt
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

ALLOWED = Path(__file__).resolve().parents[2] / "infra" / "allowed-grants.txt"
STAGES = ("dev", "prod")
REGENERATE = ".venv/bin/python -m tests.infra.grants > infra/allowed-grants.txt"
HEADER = f"""\
# Every grant of every IAM role of the platform, as tests/infra/grants.py renders the synthesized
# stacks: <role> <action> <resource> [<condition>]; [<stage>] first for a grant of one stage only.
# tests/infra/test_grants.py fails when the stacks grant anything else. A change here is a change
# of who may do what: review each line, then regenerate with
#   {REGENERATE}
"""
_HASHED = re.compile(r"^([A-Za-z0-9]+?)[0-9A-F]{8}$")


def _id(logical_id: str) -> str:
    found = _HASHED.match(logical_id)
    return found.group(1) if found else logical_id


class _Names:
    """Renders CloudFormation values (intrinsics included) as readable, stage-free text."""

    def __init__(self, templates: Iterable[dict]):
        self.exports = {
            output["Export"]["Name"]: output["Value"]
            for template in templates
            for output in template.get("Outputs", {}).values()
            if isinstance(output.get("Export"), dict) and isinstance(output["Export"].get("Name"), str)
        }

    def __call__(self, value: Any) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return ",".join(sorted(map(self, value)))
        [(function, argument)] = value.items()
        match function:
            case "Ref":
                return "${" + argument + "}" if argument.startswith("AWS::") else _id(argument)
            case "Fn::GetAtt":
                return f"{_id(argument[0])}.{argument[1]}"
            case "Fn::ImportValue":
                exported = self.exports.get(argument)
                return self(exported) if exported is not None else f"import:{argument}"
            case "Fn::Join":
                separator, parts = argument
                return separator.join(self(part) for part in parts)
            case "Fn::Select" | "Fn::Split":  # an imported role's name, cut out of its ARN
                return self(_innermost(argument))
        return json.dumps(value, sort_keys=True, separators=(",", ":"))  # no spaces: one column


def _innermost(argument: Any) -> Any:
    """The value a chain of Select and Split works on."""
    for part in argument if isinstance(argument, list) else [argument]:
        if isinstance(part, dict):
            [(function, inner)] = part.items()
            return _innermost(inner) if function in ("Fn::Select", "Fn::Split") else part
    return argument


def _listed(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _condition(condition: dict | None, names: _Names) -> str:
    if not condition:
        return ""
    return "&".join(
        f"{operator}:{key}={names(_listed(values))}"
        for operator, keys in sorted(condition.items())
        for key, values in sorted(keys.items())
    )


def _statements(document: dict) -> Iterator[dict]:
    yield from _listed(document.get("Statement", []))


def _lines(role: str, statement: dict, names: _Names) -> Iterator[str]:
    if statement.get("Effect") != "Allow":
        return  # a Deny only narrows
    # NotAction and NotResource grant everything but: rendered as such, never allowed by a list.
    actions = list(_listed(statement.get("Action", [])))
    actions += [f"NotAction:{a}" for a in _listed(statement.get("NotAction", []))]
    resources = [names(r) for r in _listed(statement.get("Resource", []))]
    if "NotResource" in statement:
        resources.append("NotResource:" + names(statement["NotResource"]))
    condition = _condition(statement.get("Condition"), names)
    for action in actions:
        for resource in resources:
            yield " ".join(filter(None, (role, action, resource, condition)))


def _trust(role: str, document: dict, names: _Names) -> Iterator[str]:
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        whom = [("*", principal)] if principal == "*" else sorted(principal.items())
        condition = _condition(statement.get("Condition"), names)
        for action in _listed(statement.get("Action", [])):
            for kind, who in whom:
                for one in _listed(who):
                    yield " ".join(filter(None, (role, action, f"principal:{kind}={names(one)}", condition)))


def granted(templates: list[dict]) -> set[str]:
    """Every line the roles of these templates (one stage's stacks) are granted."""
    names = _Names(templates)
    lines: set[str] = set()
    for template in templates:
        for logical_id, resource in template.get("Resources", {}).items():
            kind, properties = resource["Type"], resource.get("Properties", {})
            if kind == "AWS::IAM::Role":
                role = _id(logical_id)
                lines.update(_trust(role, properties.get("AssumeRolePolicyDocument", {}), names))
                for policy in properties.get("Policies", []):
                    for statement in _statements(policy["PolicyDocument"]):
                        lines.update(_lines(role, statement, names))
                for arn in properties.get("ManagedPolicyArns", []):
                    lines.add(f"{role} managed-policy {names(arn)}")
            elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
                for role in map(names, properties.get("Roles", [])):
                    for statement in _statements(properties["PolicyDocument"]):
                        lines.update(_lines(_id(role.removesuffix(".Arn")), statement, names))
    return lines


def role_of_each_function(templates: list[dict]) -> dict[str, str]:
    from tests.infra.conftest import own_handler

    """Each function's role, as the lines name it, by the function's handler."""
    names = _Names(templates)
    return {
        own_handler(resource["Properties"]): _id(names(resource["Properties"]["Role"]).removesuffix(".Arn"))
        for template in templates
        for resource in template.get("Resources", {}).values()
        if resource["Type"] == "AWS::Lambda::Function"
    }


# ---- every stage, against the reviewed lines --------------------------------------------------


def tagged(by_stage: dict[str, set[str]]) -> set[str]:
    """One stage's lines as the file holds them: untagged when every stage grants it."""
    everywhere = set.intersection(*by_stage.values())
    return everywhere | {f"[{stage}] {line}" for stage, lines in by_stage.items() for line in lines - everywhere}


def allowed(path: Path = ALLOWED) -> set[str]:
    """The reviewed lines: blank lines and # comments aside, columns separated by spaces."""
    return {
        " ".join(line.split()) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")
    }


def difference(granted_lines: set[str], allowed_lines: set[str]) -> list[str]:
    """`+` the lines granted and not allowed (a grant widened), `-` the lines allowed and no longer
    granted, each sorted by role."""
    return [f"+ {line}" for line in sorted(granted_lines - allowed_lines)] + [
        f"- {line}" for line in sorted(allowed_lines - granted_lines)
    ]


def render(lines: set[str]) -> str:
    return HEADER + "\n" + "\n".join(sorted(lines, key=lambda line: (line.startswith("["), line))) + "\n"


# ---- what a role may do on a table's items, evaluated as IAM would ----------------------------

_OPERATORS = {
    "ForAllValues:StringLike": lambda values, patterns: all(any(fnmatchcase(v, p) for p in patterns) for v in values),
    "ForAllValues:StringNotLike": lambda values, patterns: all(
        not any(fnmatchcase(v, p) for p in patterns) for v in values
    ),
}


def allows(
    lines: Iterable[str], role: str, action: str, resource: str, leading_keys: Iterable[str] | None = None
) -> bool:
    """Whether one of these lines lets the role take this action on this resource, for items of
    these partition keys (dynamodb:LeadingKeys; None: not known, and no condition on them met). A
    condition on any other key, or with another operator, is not met: yes only where IAM says yes."""
    keys = None if leading_keys is None else list(leading_keys)
    for line in lines:
        who, granted_action, granted_resource, *condition = line.split(" ")
        if who != role or not fnmatchcase(action, granted_action) or not fnmatchcase(resource, granted_resource):
            continue
        if all(_met(part, keys) for clause in condition for part in clause.split("&")):
            return True
    return False


def _met(condition: str, leading_keys: list[str] | None) -> bool:
    operator_and_key, _, patterns = condition.partition("=")
    operator, _, key = operator_and_key.rpartition(":dynamodb:")
    check = _OPERATORS.get(operator)
    return (
        key == "LeadingKeys"
        and check is not None
        and leading_keys is not None
        and check(leading_keys, patterns.split(","))
    )


def stage_templates(stage: str) -> list[dict]:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from app import build
    from tests.infra.conftest import CDK_CONTEXT

    stacks = build(cdk.App(context={**CDK_CONTEXT, "stage": stage}))
    return [dict(Template.from_stack(stack).to_json()) for stack in stacks]


if __name__ == "__main__":
    import infra  # noqa: F401  (quiets jsii before the CDK loads)

    print(render(tagged({stage: granted(stage_templates(stage)) for stage in STAGES})), end="")
