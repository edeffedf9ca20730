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
import subprocess
import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]

STAGES = ("dev", "prod")
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def synth(outdir: Path, stages: Iterable[str] = STAGES) -> list[Path]:
    """Synthesize every stage into outdir/<stage>; cdk-nag runs here and raises on findings."""
    import aws_cdk as cdk
    from aws_cdk import cx_api

    from app import build

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    templates = []
    for stage in stages:
        # path metadata, as `cdk synth` writes it: the catalog names rules and consumers by it
        app = cdk.App(context={**context, "stage": stage, "aws:cdk:enable-path-metadata": True},
                      outdir=str(outdir / stage))
        build(app)
        assembly = app.synth()
        for stack in assembly.stacks:
            errors = [m for m in stack.messages if m.level == cx_api.SynthesisMessageLevel.ERROR]
            if errors:
                raise SystemExit("cdk-nag: " + "\n".join(f"{m.id}: {m.entry.data}" for m in errors))
            templates.append(Path(assembly.directory) / stack.template_file)
    return templates


def cfn_lint(templates: list[Path]) -> list[str]:
    from infra.compliance import CFN_LINT_IGNORES

    command = [sys.executable, "-m", "cfnlint", "--format", "parseable",
               "--ignore-checks", *CFN_LINT_IGNORES, "--", *map(str, templates)]
    result = subprocess.run(command, capture_output=True, text=True)
    return [line for line in result.stdout.splitlines() if line.strip()]


def checkov(directory: Path) -> list[str]:
    from infra.compliance import CHECKOV_SKIPS

    command = [str(CHECKOV), "--directory", str(directory), "--framework", "cloudformation", "--quiet",
               "--compact", "--output", "json", "--skip-check", ",".join(CHECKOV_SKIPS)]
    result = subprocess.run(command, capture_output=True, text=True)
    if not result.stdout.strip():
        return [f"checkov did not run: {result.stderr.strip()[-500:]}"]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [f"{check['check_id']} {check['check_name']}: {Path(check['file_path']).name} {check['resource']}"
            for report in reports if isinstance(report, dict)
            for check in report.get("results", {}).get("failed_checks", [])]


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


def run_all(outdir: Path) -> dict[str, list[str]]:
    templates = synth(outdir)
    return {"cfn-lint": cfn_lint(templates), "checkov": checkov(outdir), "platform": platform_rules(templates)}


def main() -> int:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        results = run_all(Path(tmp))
    for gate, findings in results.items():
        print(f"{gate:9} {'clean' if not findings else f'{len(findings)} finding(s)'}")
        for finding in findings:
            print(f"  {finding}")
    return 1 if any(results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
