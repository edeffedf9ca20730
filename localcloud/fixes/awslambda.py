"""Lambda: asynchronous invokes, execution environments, and the end of an invocation."""

from __future__ import annotations

import copy
import inspect
import json
import time
from typing import Any

from localcloud import in_flight, stopping
from localcloud.fixes.framework import FixTargetChanged, log, patch, require
from localcloud.fixes.xray import continuing, inbound_trace

ROUTING_SECONDS = 5  # how long the stop waits for a failed event's record to reach its destination


def durable_async_invokes() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Keep each accepted invocation in the Lambda state, saved on shutdown, until it has succeeded
    or been sent to its destination, and resume the ones left on start. None starts once the stop
    has begun, and the stop waits for the ones running (localcloud/stopping.py); a run cut short
    all the same (a kill, a run past its timeout) runs again: at least once, as on AWS.

    The queue is drained at a bounded concurrency (LOCAL_CLOUD_ASYNC_CONCURRENCY, default three
    per core), the rest waiting their turn as throttled async events wait on AWS: MiniStack starts
    a worker process per concurrent invocation, and a burst of retries would have 150 workers
    cold-starting on 2 cores, each past its timeout, each killed and retried.

    How many accepted invocations are not done yet (queued, running, or waiting to be retried)
    is part of what the cloud has left to do (localcloud/in_flight.py)."""
    import os
    import threading
    import uuid

    from ministack.services import lambda_svc as svc

    slots = threading.BoundedSemaphore(
        int(os.environ.get("LOCAL_CLOUD_ASYNC_CONCURRENCY") or 3 * (os.cpu_count() or 2))
    )

    pending: dict[str, dict] = {}  # id -> {"function": arn, "event": ..., "attempt": n, "started": t}
    lock = threading.Lock()

    stop = stopping.stopping  # set when the stop begins (localcloud/stopping.py): nothing more starts
    get_state, load_persisted_state = svc.get_state, svc.load_persisted_state

    def run(invocation_id: str) -> None:
        with lock:
            invocation = pending.get(invocation_id)
        if invocation is None:
            return
        func, config, name = svc._get_func_record_for_ref(invocation["function"])
        if not func:
            log.warning("async invoke: function %s is gone; event dropped as on AWS", name)
            with lock:
                pending.pop(invocation_id, None)
                in_flight.changed()
            return
        config = func.get("config") or func
        account_id, region = svc._account_region_from_function_config(config)
        svc._request_account_id.set(account_id)
        svc._request_region.set(region)
        settings = func.get("event_invoke_config") or (func.get("event_invoke_configs") or {}).get("$LATEST") or {}
        retries = settings.get("MaximumRetryAttempts")
        retries = 2 if retries is None else int(retries)
        max_age = int(settings.get("MaximumEventAgeInSeconds", 21600))
        on_failure = (
            (settings.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
            or (config.get("DeadLetterConfig") or {}).get("TargetArn")
            or ""
        )
        timeout = int(config.get("Timeout", 3))
        if invocation.get("interrupted"):
            # Cut short by a stop that could not wait for it (a kill, a run past its timeout):
            # let that run's lease lapse first (a Powertools idempotency record in progress
            # lasts the function's timeout), as AWS's minute-long retry delay does; the local
            # delays are seconds.
            if stop.wait(timeout + 1):
                return
            invocation["interrupted"] = False
        result, condition = None, None
        while invocation["attempt"] <= retries:
            if invocation["attempt"] > 0:
                delay = min(
                    svc._LAMBDA_ASYNC_RETRY_BASE_SECONDS * 2 ** (invocation["attempt"] - 1),
                    svc._LAMBDA_ASYNC_RETRY_MAX_SECONDS,
                )
                if time.time() - invocation["started"] + delay > max_age:
                    condition = "EventAgeExceeded"
                    break
                if stop.wait(delay):
                    return  # saved as pending: resumed after the restart
            # What a run leads to is recorded before the stop may save the state (the stop waits
            # for this block): a run that ended is never saved as pending, to run again.
            with slots, stopping.invocation(timeout) as starts, continuing(invocation.get("traceHeader")):
                if not starts:
                    return  # the stop has begun: saved as pending, resumed after the restart
                invocation["running"] = True  # saved as cut short, should the exit come now
                try:
                    result = svc._execute_function(func, invocation["event"])
                    if not result.get("throttle"):
                        invocation["invoked"] = invocation.get("invoked", 0) + 1
                    if result.get("log"):
                        attempt = invocation["attempt"] + 1
                        log.info("Lambda %s async output (attempt %d):\n%s", name, attempt, result["log"])
                    if result.get("error") and stop.is_set():
                        # cut by the stop (a kill, a run past its timeout): not an attempt, and
                        # waited out after the restart
                        invocation["interrupted"] = True
                        return
                    if not result.get("error") and not result.get("throttle"):
                        finished(invocation_id)
                        return
                finally:
                    invocation["running"] = False
            if result.get("throttle"):  # a throttle is not an attempt: the queue tries again, until the event's age
                result = None
                if time.time() - invocation["started"] > max_age:
                    condition = "EventAgeExceeded"
                    break
                if stop.wait(1.0):
                    return
                continue
            invocation["attempt"] += 1
        else:
            condition = "RetriesExhausted"
        if on_failure and stop.wait(1.0):
            return  # the failure may be the stop's (a kill): decided after the restart
        with stopping.invocation(ROUTING_SECONDS) as starts:
            if not starts:
                return
            if on_failure:
                _route_async_failure(
                    svc, on_failure, config, invocation["event"], result, condition, invocation.get("invoked", 0)
                )
            else:
                log.warning(
                    "async invoke of %s: %s and no on-failure destination; event dropped as on AWS", name, condition
                )
            finished(invocation_id)

    def finished(invocation_id: str) -> None:
        with lock:
            pending.pop(invocation_id, None)
            in_flight.changed()

    def start(invocation_id: str) -> None:
        threading.Thread(target=run, args=(invocation_id,), daemon=True).start()

    def invoke_async_with_retry(func: dict, event: dict) -> None:
        config = func.get("config") or func
        invocation_id = str(uuid.uuid4())
        with lock:
            pending[invocation_id] = {
                "function": config.get("FunctionArn") or config.get("FunctionName"),
                "event": event,
                "attempt": 0,
                "started": time.time(),
                "traceHeader": inbound_trace.get(),
            }  # the trace the event goes on in
            in_flight.changed()
        start(invocation_id)

    def get_state_with_invocations():
        stop.set()  # MiniStack saves its state only on the way out
        state = get_state()
        with lock:
            # One that has run may have been cut short by the stop (a kill, a run past its
            # timeout): its retry waits its lease out. One that never ran starts at once.
            state["pending_async_invocations"] = {
                i: {
                    **copy.deepcopy(v),
                    "interrupted": any(map(v.get, ("running", "interrupted", "invoked"))),
                    "running": False,
                }
                for i, v in pending.items()
            }
        return state

    def load_with_invocations(data):
        result = load_persisted_state(data)
        left = (data or {}).get("pending_async_invocations") or {}
        with lock:
            pending.update(left)
            in_flight.changed()
        if left:
            log.info("resuming %d asynchronous invocations accepted before the restart", len(left))

            # once the server serves: the functions' own calls go back to it
            def resume() -> None:
                for invocation in list(left):
                    start(invocation)

            threading.Timer(2.0, resume).start()
        return result

    fix = "durable_async_invokes"
    require(
        svc,
        "_get_func_record_for_ref",
        "_account_region_from_function_config",
        "_request_account_id",
        "_request_region",
        "_execute_function",
        "_LAMBDA_ASYNC_RETRY_BASE_SECONDS",
        "_LAMBDA_ASYNC_RETRY_MAX_SECONDS",
        "_route_async_failure",
        "new_uuid",
        "get_account_id",
        "esm_wake",
        fix=fix,
    )
    from ministack.services import sqs as sqs_svc

    require(sqs_svc, "_queue_by_arn", "queue_delay", fix=fix)
    patch(svc, "invoke_async_with_retry", lambda _: invoke_async_with_retry, fix=fix, params=("func", "event"))
    in_flight.count("async invocations", lambda: len(pending))
    patch(svc, "get_state", lambda _: get_state_with_invocations, fix=fix, params=())
    patch(svc, "load_persisted_state", lambda _: load_with_invocations, fix=fix, params=("data",))


def _route_async_failure(
    svc, target_arn: str, config: dict, event: dict, result: dict | None, condition: str, invoked: int
) -> None:
    """The on-failure record as AWS writes it: why the event was given up (RetriesExhausted,
    or EventAgeExceeded, for an event throttled or retried past its maximum age) and how many
    times the function really ran, with its last error when it ran at all. MiniStack 1.5.33
    writes RetriesExhausted and approximateInvokeCount 3 whatever happened. An SQS target gets
    it here; any other target goes through MiniStack's own routing."""
    import hashlib

    from ministack.services import sqs as sqs_svc

    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "requestContext": {
            "requestId": svc.new_uuid(),
            "functionArn": f"{config.get('FunctionArn', '')}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": invoked,
        },
        "requestPayload": event,
    }
    if result is not None and result.get("error"):
        body = result.get("body") if isinstance(result.get("body"), dict) else {"errorMessage": str(result["error"])}
        record["responseContext"] = {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": result.get("function_error") or "Unhandled",
        }
        record["responsePayload"] = body
    queue = sqs_svc._queue_by_arn(target_arn) if target_arn.startswith("arn:aws:sqs:") else None
    if queue is None:
        svc._route_async_failure(target_arn, config.get("FunctionName", ""), event, result or {})
        return
    body, now = json.dumps(record), time.time()
    queue["messages"].append(
        {
            "id": svc.new_uuid(),
            "body": body,
            "md5_body": hashlib.md5(body.encode()).hexdigest(),
            "md5_attrs": "",
            "receipt_handle": None,
            "sent_at": now,
            "visible_at": now + sqs_svc.queue_delay(queue),
            "receive_count": 0,
            "first_receive_at": None,
            "message_attributes": {},
            "sys": {"SenderId": svc.get_account_id(), "SentTimestamp": str(int(now * 1000))},
            "group_id": None,
            "dedup_id": None,
            "dedup_cache_key": None,
            "seq": None,
        }
    )
    svc.esm_wake.set()


def keep_workers_after_handled_errors() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Keep the worker when the handler raised (its answer carries the traceback); only a crash or a
    timeout resets it."""
    import textwrap

    from ministack.core import lambda_runtime as runtime

    source = textwrap.dedent(inspect.getsource(runtime.Worker.invoke))
    killed_on_error = 'if response.get("status") == "error":'
    if killed_on_error not in source:
        raise FixTargetChanged("MiniStack's Worker.invoke changed: review keep_workers_after_handled_errors")
    source = source.replace(killed_on_error, 'if response.get("status") == "error" and "trace" not in response:')
    namespace: dict = {}
    exec(compile(source, runtime.__file__, "exec"), vars(runtime), namespace)
    patch(
        runtime.Worker,
        "invoke",
        lambda _: namespace["invoke"],
        fix="keep_workers_after_handled_errors",
        params=("self", "event", "request_id", "trace_id", "depth", "durable", "invoked_function_arn"),
    )


def finish_running_invocations_on_update() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Take the function's workers out of the pool as MiniStack does (new invocations get new
    workers), but stop a busy one only when its invocation gives it back."""
    import threading

    from ministack.core import lambda_runtime as runtime
    from ministack.services import lambda_svc as svc

    retiring: set[int] = set()  # id() of workers taken out of the pool while busy
    lock = threading.Lock()
    updating = threading.local()  # set while this thread serves UpdateFunctionConfiguration

    def update_config(original):
        def update(name, data):
            updating.on = True
            try:
                return original(name, data)
            finally:
                updating.on = False

        return update

    def invalidate_worker(original):
        def invalidate(func_name, qualifier=None, account=None, region=None):
            if not getattr(updating, "on", False):  # a crashed worker, a deleted function: as MiniStack does
                return original(func_name, qualifier=qualifier, account=account, region=region)
            with runtime._lock:  # MiniStack's pool lock: no worker is leased or given back meanwhile
                for key, workers in runtime._workers.items():
                    parts = key.split(":")
                    if parts[-2:-1] == [func_name] and (qualifier is None or parts[-1] == qualifier):
                        busy = [w for w in workers if w.in_use]
                        workers[:] = [w for w in workers if not w.in_use]
                        with lock:
                            retiring.update(map(id, busy))
            return original(func_name, qualifier=qualifier, account=account, region=region)

        return invalidate

    def release_worker(original):
        def release(worker):
            original(worker)
            with lock:
                retired = worker is not None and id(worker) in retiring
                retiring.discard(id(worker))
            if retired:
                runtime.kill_workers([worker])

        return release

    fix = "finish_running_invocations_on_update"
    require(runtime, "_lock", "_workers", "kill_workers", fix=fix)
    patch(svc, "_update_config", update_config, fix=fix, params=("name", "data"))
    patch(svc, "invalidate_worker", invalidate_worker, fix=fix, params=("func_name", "qualifier", "account", "region"))
    patch(svc, "release_worker", release_worker, fix=fix, params=("worker",))


INVOCATION_END = "\x1eministack-invocation-end"  # a line no handler writes


def end_invocations_without_waiting_for_logs() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    The Python worker writes an end-of-invocation line on its log pipe before its answer, and the
    drain (`Worker._drain_stderr_bounded`) reads up to that line and no further."""
    import queue

    from ministack.core import lambda_runtime as runtime

    loop_end = "        _real_stdout.flush()\n\nrun()"
    if runtime._PYTHON_WORKER_SCRIPT.count(loop_end) != 1:
        raise FixTargetChanged("MiniStack's Python worker changed: review end_invocations_without_waiting_for_logs")
    runtime._PYTHON_WORKER_SCRIPT = runtime._PYTHON_WORKER_SCRIPT.replace(
        loop_end, f'        sys.stderr.write({INVOCATION_END!r} + "\\n")\n        sys.stderr.flush()\n{loop_end}'
    )
    bounded = runtime.Worker._drain_stderr_bounded

    def drain_to_the_end(
        self, first_line_wait: float = 0.050, idle_confirm: float = 0.005, hard_cap: float = 0.250
    ) -> str:
        if not str((self.config or {}).get("Runtime", "python")).startswith("python"):
            return bounded(self, first_line_wait, idle_confirm, hard_cap)
        # The end line always comes; a longer cap only guards against a stalled pipe, and a
        # drain that gave up early would leave its end line to cut the next invocation short.
        lines, deadline = [], time.monotonic() + max(hard_cap, 2.0)
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._stderr_queue.get(timeout=left)
            except queue.Empty:
                break
            if line == INVOCATION_END:
                break
            lines.append(line)
        return "\n".join(lines)

    patch(
        runtime.Worker,
        "_drain_stderr_bounded",
        lambda _: drain_to_the_end,
        fix="end_invocations_without_waiting_for_logs",
        params=("self", "first_line_wait", "idle_confirm", "hard_cap"),
    )
