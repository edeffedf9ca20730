"""SPIKE: the local cloud's server (localcloud/server.py, with its fixes and the meter) plus a
counter of the durable-execution API calls, which localcloud/meter.py does not count:

  durable.executions               executions started (create_execution_for_invoke)
  durable.checkpoint_calls         CheckpointDurableExecution requests
  durable.checkpoint_updates       OperationUpdates they carried
  durable.operations.<TYPE>        distinct operations checkpointed (STEP, WAIT, ...), by type:
                                   what AWS would bill as durable operations (see README)
  durable.get_state_calls          GetDurableExecutionState requests
  durable.state_bytes              bytes of checkpoint request bodies (a proxy for storage written)

Started by spikes/durable_saga/run.py instead of localcloud.server; never by `make up`.
"""

from __future__ import annotations

import json
import os
import sys


def _count_durable() -> None:
    from ministack.services import lambda_durable

    from localcloud import meter

    seen: set[tuple[str, str]] = set()
    checkpoint, get_state, create = (lambda_durable.handle_checkpoint, lambda_durable.handle_get_state,
                                     lambda_durable.create_execution_for_invoke)

    def counted_checkpoint(arn_path, body):
        response = checkpoint(arn_path, body)
        try:
            if response[0] < 400:
                data = json.loads(body or b"{}")
                meter.add("durable.checkpoint_calls")
                meter.add("durable.state_bytes", len(body or b""))
                for update in data.get("Updates") or []:
                    meter.add("durable.checkpoint_updates")
                    key = (arn_path, update.get("Id", ""))
                    if key not in seen:
                        seen.add(key)
                        meter.add(f"durable.operations.{update.get('Type', '?')}")
            else:
                meter.add("durable.checkpoint_refused")
        except Exception:  # noqa: BLE001 - counting must never break a request
            meter.add("meter.errors")
        return response

    def counted_get_state(arn_path, query_params):
        meter.add("durable.get_state_calls")
        return get_state(arn_path, query_params)

    def counted_create(*args, **kwargs):
        meter.add("durable.executions")
        return create(*args, **kwargs)

    lambda_durable.handle_checkpoint = counted_checkpoint
    lambda_durable.handle_get_state = counted_get_state
    lambda_durable.create_execution_for_invoke = counted_create


def main() -> None:
    os.environ.setdefault("BIND_HOST", "127.0.0.1")
    os.environ.setdefault("IOT_MTLS_ENABLED", "0")
    from localcloud import ministack_fixes
    from ministack import app

    ministack_fixes.apply_all()
    if os.environ.get("LOCAL_CLOUD_METER"):
        ministack_fixes.meter_billing(os.environ["LOCAL_CLOUD_METER"])
        _count_durable()
    sys.argv = [sys.argv[0]]
    app.main()


if __name__ == "__main__":
    main()
