"""Where MiniStack differs from AWS in ways this system depends on, shown on plain MiniStack,
and each fix (localcloud/ministack_fixes.py) shown on the patched one. When an upgrade of
MiniStack fixes a difference upstream, the `unpatched` case of its test fails: drop the fix."""

from __future__ import annotations

import io
import json
import time
import zipfile

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.runtime import POWERTOOLS_LAYER_PARAMETER
from localcloud.cloud import LocalCloud
from tests.e2e.conftest import ON_AWS, _free_port

pytestmark = pytest.mark.skipif(ON_AWS, reason="compares MiniStack with and without the fixes")

FAILING_HANDLER = "def handler(event, context):\n    raise RuntimeError('consumer is down')\n"


@pytest.fixture(scope="module", params=["unpatched", "patched"])
def cloud(request, tmp_path_factory):
    cloud = LocalCloud(port=_free_port(), state_dir=tmp_path_factory.mktemp(request.param),
                       with_fixes=request.param == "patched")
    cloud.start()
    yield request.param, cloud
    cloud.stop()


def clients(cloud: LocalCloud):
    env = cloud.aws_env()
    return lambda service: boto3.client(
        service, endpoint_url=cloud.endpoint, region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def test_a_failing_rule_target_reaches_its_on_failure_destination(cloud):
    variant, local = cloud
    client = clients(local)
    sqs, lambda_, events = client("sqs"), client("lambda"), client("events")
    queue_url = sqs.create_queue(QueueName="on-failure")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("fn.py", FAILING_HANDLER)
    function_arn = lambda_.create_function(
        FunctionName="failing-consumer", Runtime="python3.12", Handler="fn.handler", Code={"ZipFile": code.getvalue()},
        Role="arn:aws:iam::000000000000:role/consumer",
    )["FunctionArn"]
    lambda_.put_function_event_invoke_config(
        FunctionName="failing-consumer", MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    events.put_rule(Name="to-consumer", EventPattern=json.dumps({"source": ["fidelity.test"]}))
    events.put_targets(Rule="to-consumer", Targets=[{"Id": "consumer", "Arn": function_arn}])

    events.put_events(Entries=[{"Source": "fidelity.test", "DetailType": "PING", "Detail": "{}"}])
    received = []
    deadline = time.monotonic() + 6  # the patched cloud delivers in about one second
    while not received and time.monotonic() < deadline:
        received = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])

    if variant == "unpatched":
        assert received == [], "MiniStack now routes rule-target failures: drop route_rule_targets_through_async_invoke"
    else:
        [message] = received
        body = json.loads(message["Body"])
        assert body["requestContext"]["condition"] == "RetriesExhausted"
        assert "consumer is down" in body["responsePayload"]["errorMessage"]


def test_the_powertools_layer_parameter_resolves(cloud):
    variant, local = cloud
    ssm = clients(local)("ssm")
    if variant == "unpatched":
        with pytest.raises(ClientError, match="ParameterNotFound"):
            ssm.get_parameter(Name=POWERTOOLS_LAYER_PARAMETER)
    else:
        value = ssm.get_parameter(Name=POWERTOOLS_LAYER_PARAMETER)["Parameter"]["Value"]
        assert ":layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:" in value


def test_cloudformation_provisions_an_event_archive(cloud):
    variant, local = cloud
    client = clients(local)
    bus_arn = client("events").create_event_bus(Name=f"archived-{variant}")["EventBusArn"]
    template = {"Resources": {"Archive": {"Type": "AWS::Events::Archive", "Properties": {
        "SourceArn": bus_arn, "RetentionDays": 1, "EventPattern": {"source": ["x"]}}}}}
    cloudformation = client("cloudformation")
    if variant == "unpatched":
        with pytest.raises(ClientError, match="Unrecognized resource types: \\[AWS::Events::Archive\\]"):
            cloudformation.create_stack(StackName="archive", TemplateBody=json.dumps(template))
        return
    cloudformation.create_stack(StackName="archive", TemplateBody=json.dumps(template))
    deadline = time.monotonic() + 15
    while (status := cloudformation.describe_stacks(StackName="archive")["Stacks"][0]["StackStatus"]).endswith("PROGRESS"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert status == "CREATE_COMPLETE"
    archives = client("events").list_archives(EventSourceArn=bus_arn)["Archives"]
    assert len(archives) == 1 and archives[0]["RetentionDays"] == 1
