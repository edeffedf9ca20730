"""CloudFormation: the resources the stacks declare that MiniStack's provisioner does not know."""

from __future__ import annotations

import json

from localcloud.fixes.framework import register, require


def provision_event_archives() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Provision AWS::Events::Archive through MiniStack's own EventBridge calls (CreateArchive)."""
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

    fix = "provision_event_archives"
    require(eventbridge, "_create_archive", "_update_archive", "_delete_archive", "_archives", fix=fix)
    require(provisioners, "_RESOURCE_HANDLERS", "_physical_name", fix=fix)
    register(
        provisioners._RESOURCE_HANDLERS,
        "AWS::Events::Archive",
        {"create": create, "update": update, "delete": delete},
        fix=fix,
        where="provisioners._RESOURCE_HANDLERS",
    )


def accept_schema_registry() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Accept AWS::EventSchemas::Registry and ::Schema as records so the same template deploys;
    nothing serves them locally (the schemas are in schemas/ and docs/EVENTS.md)."""
    from ministack.services.cloudformation import provisioners

    registries: dict[str, dict] = {}

    def create_registry(logical_id, props, stack_name):
        name = props.get("RegistryName") or provisioners._physical_name(stack_name, logical_id, max_len=64)
        arn = f"arn:aws:schemas:{_region()}:{_account()}:registry/{name}"
        registries[name] = {"arn": arn, "schemas": {}}
        return name, {"RegistryArn": arn, "RegistryName": name}

    def create_schema(logical_id, props, stack_name):
        registry, name = props["RegistryName"], props.get("SchemaName") or logical_id
        arn = f"arn:aws:schemas:{_region()}:{_account()}:schema/{registry}/{name}"
        registries.setdefault(registry, {"schemas": {}})["schemas"][name] = props.get("Content", "")
        return arn, {"SchemaArn": arn, "SchemaName": name, "SchemaVersion": "1"}

    def update(kind):
        def handler(physical_id, old_props, new_props, stack_name, logical_id=None):
            return (create_registry if kind == "registry" else create_schema)(
                logical_id or physical_id, new_props, stack_name
            )

        return handler

    def delete(physical_id, props):
        registries.pop(physical_id, None)

    fix = "accept_schema_registry"
    require(provisioners, "_RESOURCE_HANDLERS", "_physical_name", fix=fix)
    register(
        provisioners._RESOURCE_HANDLERS,
        "AWS::EventSchemas::Registry",
        {"create": create_registry, "update": update("registry"), "delete": delete},
        fix=fix,
        where="provisioners._RESOURCE_HANDLERS",
    )
    register(
        provisioners._RESOURCE_HANDLERS,
        "AWS::EventSchemas::Schema",
        {"create": create_schema, "update": update("schema"), "delete": delete},
        fix=fix,
        where="provisioners._RESOURCE_HANDLERS",
    )


def _region() -> str:
    from ministack.core.responses import get_region

    return get_region()


def _account() -> str:
    from ministack.core.responses import get_account_id

    return get_account_id()


def _raise_on_error(response) -> None:
    status = response[0] if isinstance(response, tuple) else 200
    if status >= 400:
        raise ValueError(f"AWS::Events::Archive: {response[2]!r}")
