"""Where MiniStack differs from AWS in ways this system depends on, each difference fixed here
and only here. The server (localcloud/server.py) applies them before it starts.

Each fix names the AWS behaviour it restores; tests/e2e/test_local_cloud_fidelity.py shows
each difference on an unpatched emulator and the fix on the patched one.
"""

from __future__ import annotations

import json
import logging

from infra.runtime import POWERTOOLS_LAYER_PARAMETER

log = logging.getLogger("localcloud.fixes")

# Never fetched: MiniStack runs functions on its own interpreter, whose environment already
# has Powertools and pydantic (requirements.txt), so the layer only needs to resolve.
POWERTOOLS_LAYER_ARN = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:1"


def route_rule_targets_through_async_invoke() -> None:
    """AWS: a Lambda rule target is an asynchronous invoke, so a failing function is retried
    (MaximumRetryAttempts) and then sent to its on-failure destination.
    MiniStack 1.5.33 runs the function once in a thread (`_dispatch_to_lambda`), so a failing
    consumer's event vanishes. Route it through MiniStack's own async-invoke path instead."""
    from ministack.services import eventbridge, lambda_svc

    def dispatch_to_lambda(arn, payload):
        try:
            event = json.loads(payload)
        except (json.JSONDecodeError, TypeError):
            event = {"body": payload}
        func, config, name = lambda_svc._get_func_record_for_ref(arn)
        if not func or not config:
            log.warning("EventBridge -> Lambda: function %s not found", name)
            return
        lambda_svc.invoke_async_with_retry(func, event)

    eventbridge._dispatch_to_lambda = dispatch_to_lambda


def serve_powertools_layer_parameter() -> None:
    """AWS publishes each Powertools layer ARN as a public SSM parameter, which the stacks
    resolve at deploy time. MiniStack serves only two public (AMI) parameters."""
    from ministack.services import ssm

    ssm._PUBLIC_AMI_PARAMETERS[POWERTOOLS_LAYER_PARAMETER] = POWERTOOLS_LAYER_ARN


def provision_event_archives() -> None:
    """AWS CloudFormation knows AWS::Events::Archive; MiniStack's EventBridge has archives
    (CreateArchive, StartReplay) but its CloudFormation rejects the type. Provision it through
    the same EventBridge calls."""
    from ministack.services import eventbridge
    from ministack.services.cloudformation import provisioners

    def body(props: dict, name: str) -> dict:
        pattern = props.get("EventPattern")
        return {
            "ArchiveName": name,
            "EventSourceArn": props.get("SourceArn", ""),
            "Description": props.get("Description", ""),
            "EventPattern": json.dumps(pattern) if isinstance(pattern, dict) else (pattern or ""),
            "RetentionDays": int(props.get("RetentionDays", 0)),
        }

    def create(logical_id, props, stack_name):
        name = props.get("ArchiveName") or provisioners._physical_name(stack_name, logical_id, max_len=48)
        _raise_on_error(eventbridge._create_archive(body(props, name)))
        return name, {"Arn": eventbridge._archives[name]["ArchiveArn"], "ArchiveName": name}

    def update(physical_id, old_props, new_props, stack_name, logical_id=None):
        update_body = body(new_props, physical_id)
        update_body.pop("EventSourceArn")
        _raise_on_error(eventbridge._update_archive(update_body))
        return physical_id, {"Arn": eventbridge._archives[physical_id]["ArchiveArn"], "ArchiveName": physical_id}

    def delete(physical_id, props):
        if physical_id in eventbridge._archives:
            eventbridge._delete_archive({"ArchiveName": physical_id})

    provisioners._RESOURCE_HANDLERS["AWS::Events::Archive"] = {"create": create, "update": update, "delete": delete}


def _raise_on_error(response) -> None:
    status = response[0] if isinstance(response, tuple) else 200
    if status >= 400:
        raise ValueError(f"AWS::Events::Archive: {response[2]!r}")


FIXES = (route_rule_targets_through_async_invoke, serve_powertools_layer_parameter, provision_event_archives)


def apply_all() -> None:
    for fix in FIXES:
        fix()
        log.info("local-cloud fix applied: %s", fix.__name__)
