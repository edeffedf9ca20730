"""The security gates on the synthesized templates of every stage:

cdk-nag   AwsSolutions + Serverless packs, run inside the synth (an unsuppressed finding fails it)
cfn-lint  no error, no warning, except the ignores in infra/compliance.py
checkov   no failed check, except the skips in infra/compliance.py and on resources
platform  this project's own rules: no wildcard IAM action, no open bus or queue policy,
          every queue, topic and table encrypted

  python -m scripts.gates            # all stages; exit 1 on any finding
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAGES = ("dev", "prod")
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def synth(stages: Iterable[str] = STAGES) -> list[Path]:
    """Every stage's templates, from its cloud assembly: synthesized once for the code it is made
    from and shared with every deploy of that code (localcloud.cloud.synthesized); cdk-nag runs
    inside the synth, and an unsuppressed finding fails it."""
    from localcloud.cloud import synthesized

    templates = []
    for stage in stages:
        assembly = synthesized(stage)
        manifest = json.loads((assembly / "manifest.json").read_text())
        templates += [
            assembly / artifact["properties"]["templateFile"]
            for artifact in manifest["artifacts"].values()
            if artifact["type"] == "aws:cloudformation:stack"
        ]
    return templates


def cfn_lint(templates: list[Path]) -> list[str]:
    from infra.compliance import CFN_LINT_IGNORES

    command = [
        sys.executable,
        "-m",
        "cfnlint",
        "--format",
        "parseable",
        "--ignore-checks",
        *CFN_LINT_IGNORES,
        "--",
        *map(str, templates),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if line.strip()]


def checkov(directory: Path) -> list[str]:
    from infra.compliance import CHECKOV_SKIPS

    command = [
        str(CHECKOV),
        "--directory",
        str(directory),
        "--framework",
        "cloudformation",
        "--quiet",
        "--compact",
        "--output",
        "json",
        "--skip-check",
        ",".join(CHECKOV_SKIPS),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if not result.stdout.strip():
        return [f"checkov did not run: {result.stderr.strip()[-500:]}"]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [
        f"{check['check_id']} {check['check_name']}: {Path(check['file_path']).name} {check['resource']}"
        for report in reports
        if isinstance(report, dict)
        for check in report.get("results", {}).get("failed_checks", [])
    ]


# ---- the platform's own rules ---------------------------------------------------------------


def platform_rules(templates: list[Path]) -> list[str]:
    findings = []
    for path in templates:
        resources = json.loads(path.read_text()).get("Resources", {})
        for logical_id, resource in resources.items():
            where = f"{path.name} {logical_id}"
            for problem in _problems(resource["Type"], resource.get("Properties", {})):
                findings.append(f"{where}: {problem}")
    return findings


def _problems(type_: str, props: dict) -> Iterable[str]:
    for statement in _statements(type_, props):
        if statement.get("Effect") != "Allow":
            continue  # a broad Deny (e.g. every sqs:* action without TLS) only narrows access
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action == "*" or action.endswith(":*"):
                yield f"wildcard action {action!r}"
        if _anyone(statement.get("Principal")) and not statement.get("Condition"):
            yield f"policy lets anyone {statement.get('Action')}"
    if type_ == "AWS::SQS::Queue" and not (props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId")):
        yield "queue is not encrypted"
    if type_ == "AWS::SNS::Topic" and not props.get("KmsMasterKeyId"):
        yield "topic is not encrypted"
    if type_ == "AWS::DynamoDB::Table" and props.get("SSESpecification", {}).get("SSEEnabled") is False:
        yield "table encryption is turned off"


def _statements(type_: str, props: dict) -> list[dict]:
    documents = {
        "AWS::IAM::Policy": props.get("PolicyDocument"),
        "AWS::IAM::ManagedPolicy": props.get("PolicyDocument"),
        "AWS::SQS::QueuePolicy": props.get("PolicyDocument"),
        "AWS::SNS::TopicPolicy": props.get("PolicyDocument"),
        "AWS::Events::EventBus": props.get("Policy"),
        "AWS::Events::EventBusPolicy": props.get("Statement") and {"Statement": [props["Statement"]]},
    }
    document = documents.get(type_)
    if type_ == "AWS::IAM::Role":
        return [s for policy in props.get("Policies", []) for s in policy["PolicyDocument"]["Statement"]]
    if not isinstance(document, dict):
        return []
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _anyone(principal) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(value == "*" or value == ["*"] for value in principal.values())
    return False


def run_all() -> dict[str, list[str]]:
    templates = synth()
    # checkov reads one folder: the templates of every stage, alone (given a folder per stage,
    # checkov 3.3.30 reads only the first: tests/infra/test_gates.py)
    with tempfile.TemporaryDirectory() as folder:
        for template in templates:
            shutil.copy(template, folder)
        checked = checkov(Path(folder))
    return {"cfn-lint": cfn_lint(templates), "checkov": checked, "platform": platform_rules(templates)}


def main() -> int:
    results = run_all()
    for gate, findings in results.items():
        print(f"{gate:9} {'clean' if not findings else f'{len(findings)} finding(s)'}")
        for finding in findings:
            print(f"  {finding}")
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
