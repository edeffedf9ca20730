"""The security gates pass on every stage, and they can fail: each catches what it is for."""

from __future__ import annotations

import re
from pathlib import Path
from typing import cast

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk import cx_api

from infra.compliance import ALL, CFN_LINT_IGNORES, CHECKOV_SKIPS, apply_checks
from scripts import gates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def results() -> dict[str, list[str]]:
    return gates.run_all()


@pytest.mark.parametrize("gate", ["cfn-lint", "checkov", "platform"])
def test_every_stage_passes(results, gate):
    assert results[gate] == []


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """A stack with an unencrypted queue, a wildcard action and a bus anyone may publish to."""
    outdir = tmp_path_factory.mktemp("bad")
    app = cdk.App(outdir=str(outdir))
    stack = cdk.Stack(app, "Bad")
    queue = sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["*"], resources=[queue.queue_arn]))
    bus = events.EventBus(stack, "Bus")
    cast(events.CfnEventBus, bus.node.default_child).add_property_override(
        "Policy",
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents", "Resource": "*"}],
        },
    )
    apply_checks(app)
    assembly = app.synth()
    [artifact] = assembly.stacks
    return (
        outdir,
        [Path(assembly.directory) / artifact.template_file],
        [m.entry.data for m in artifact.messages if m.level == cx_api.SynthesisMessageLevel.ERROR],
    )


def test_cdk_nag_fails_the_bad_stack(bad):
    _, _, errors = bad
    text = "\n".join(map(str, errors))
    assert "AwsSolutions-SQS4" in text  # no TLS enforcement
    assert "AwsSolutions-IAM5[Action::*]" in text


def test_the_platform_rules_fail_the_bad_stack(bad):
    _, templates, _ = bad
    findings = "\n".join(gates.platform_rules(templates))
    assert "queue is not encrypted" in findings
    assert "wildcard action '*'" in findings
    assert "policy lets anyone events:PutEvents" in findings


def test_checkov_fails_the_bad_stack(bad):
    outdir, _, _ = bad
    assert gates.checkov(outdir), "checkov found nothing wrong with a wildcard, open, unencrypted stack"


def test_the_readme_lists_every_exception_with_its_reason():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Security") :]
    rules = {rule for exception in ALL for rule in exception.rules} | set(CHECKOV_SKIPS) | set(CFN_LINT_IGNORES)
    rules |= {check for exception in ALL for check in exception.checkov}
    missing = sorted(rule for rule in rules if not re.search(rf"\b{re.escape(rule)}\b", section))
    assert missing == []


def test_the_event_catalog_schemas_and_samples_are_current():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "scripts.catalog", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_checkov_given_two_folders_reads_only_the_first(bad, tmp_path):
    """checkov 3.3.30 takes --directory more than once, but reports the first folder twice and
    the second not at all, so `gates.run_all` copies every stage's templates into one folder.
    When this fails, checkov reads each folder it is given, and the copy can go."""
    import json
    import shutil
    import subprocess

    _, [template], _ = bad
    folders = [tmp_path / "one", tmp_path / "two"]
    for folder in folders:
        folder.mkdir()
        shutil.copy(template, folder / f"{folder.name}.template.json")
    result = subprocess.run(
        [
            str(gates.CHECKOV),
            *(f"--directory={folder}" for folder in folders),
            "--framework",
            "cloudformation",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    text, decoder, at, reported = result.stdout.strip(), json.JSONDecoder(), 0, []
    while at < len(text):  # a report for each folder
        report, at = decoder.raw_decode(text, at)
        reported.append(sorted({Path(c["file_abs_path"]).name for c in report["results"]["failed_checks"]}))
        at += len(text[at:]) - len(text[at:].lstrip())
    assert reported == [["one.template.json"], ["one.template.json"]]


ASYNCAPI = ROOT / "node_modules" / ".bin" / "asyncapi"


def _asyncapi_validate(path: Path):
    import os
    import subprocess

    # CI=true: the CLI sends no usage metrics (it would try the network); no config file to warn about
    env = {**os.environ, "CI": "true", "SUPPRESS_NO_CONFIG_WARNING": "1"}
    return subprocess.run(
        [str(ASYNCAPI), "validate", str(path)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_asyncapi_document_is_valid_and_the_validator_can_say_otherwise(tmp_path):
    """docs/asyncapi.json (kept current by the catalog test above) passes the AsyncAPI CLI pinned in
    package.json; the same document with an operation on a channel that does not exist does not."""
    import json

    assert ASYNCAPI.exists(), "make install installs the AsyncAPI CLI (package.json)"
    valid = _asyncapi_validate(ROOT / "docs" / "asyncapi.json")
    assert valid.returncode == 0 and "is valid" in valid.stdout, valid.stdout + valid.stderr
    document = json.loads((ROOT / "docs" / "asyncapi.json").read_text())
    operation = next(iter(document["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/nowhere"}
    (broken := tmp_path / "asyncapi.json").write_text(json.dumps(document))
    assert _asyncapi_validate(broken).returncode != 0
