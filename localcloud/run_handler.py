"""Runs one handler once in this interpreter: `python -m localcloud.run_handler module.function`
with the event on stdin. The function's own logs print as they happen; the result last."""

from __future__ import annotations

import importlib
import json
import sys
import time
import uuid

import localcloud  # noqa: F401  (puts lambdas/ on the path, as in the Lambda runtime)


class Context:
    """The Lambda context object, as much of it as handlers and Powertools read."""

    def __init__(self, function_name: str = "local-function", timeout_ms: int = 30_000):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 256
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    import os

    module_name, _, function_name = sys.argv[1].rpartition(".")
    event = json.load(sys.stdin)
    handler = getattr(importlib.import_module(module_name), function_name)
    started = time.perf_counter()
    try:
        result = handler(event, Context(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", module_name)))
    except Exception as error:
        print(json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}, indent=2))
        return 1
    finally:
        print(f"--- {sys.argv[1]} ran in {(time.perf_counter() - started) * 1000:.0f} ms", file=sys.stderr)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
