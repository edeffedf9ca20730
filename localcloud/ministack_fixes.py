"""Where MiniStack differs from AWS in ways this system depends on, each difference fixed here
and only here. The server (localcloud/server.py) applies them before it starts.

Each fix names the AWS behaviour it restores; tests/e2e/test_local_cloud_fidelity.py shows
each difference on an unpatched emulator and the fix on the patched one.
"""

from __future__ import annotations

import copy
import json
import logging
import time

from infra.runtime import ARCHITECTURE, POWERTOOLS_LAYER_PARAMETER

log = logging.getLogger("localcloud.fixes")

# Never fetched: MiniStack runs functions on its own interpreter, whose environment already
# has Powertools and pydantic (requirements.txt), so the layer only needs to resolve.
POWERTOOLS_LAYER_ARN = f"arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-{ARCHITECTURE}:1"


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


def honour_stream_source_settings() -> None:
    """AWS: a DynamoDB-stream event source checkpoints past the records a function reports as
    succeeded (ReportBatchItemFailures), splits a failing batch (BisectBatchOnFunctionError),
    and after MaximumRetryAttempts sends the failing records to the on-failure destination.
    MiniStack 1.5.33 advances past the whole batch whatever the function reports (a reported
    failure is dropped), and retries a failing batch until MaximumRecordAgeInSeconds, never
    bisecting, never honouring MaximumRetryAttempts; and it invokes the function as soon as one
    record is there, where AWS waits up to MaximumBatchingWindowInSeconds to gather a fuller
    batch. This poller replaces its stream poll."""
    from ministack.services import dynamodb as ddb
    from ministack.services import lambda_svc as svc
    from ministack.core.arn import ArnParseError, parse_arn

    attempts: dict[str, int] = {}
    batch_limits: dict[str, int] = {}
    gathering_since: dict[str, float] = {}  # when a batch smaller than BatchSize was first seen
    positions, lock = svc._dynamodb_stream_positions, svc._dynamodb_stream_positions_lock

    def first_failure(result: dict, batch: list[dict], esm: dict) -> int | None:
        """Index of the first record to retry; None when the whole batch succeeded."""
        if result.get("error"):
            return 0
        if "ReportBatchItemFailures" not in esm.get("FunctionResponseTypes", []):
            return None
        body = result.get("body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except json.JSONDecodeError:
                return 0  # an unreadable response counts as a failed batch, as on AWS
        failed = {f.get("itemIdentifier") for f in (body or {}).get("batchItemFailures", [])} if isinstance(body, dict) else set()
        if not failed:
            return None
        sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in batch]
        indexes = [i for i, number in enumerate(sequence_numbers) if number in failed]
        return min(indexes) if indexes else 0  # an unknown identifier fails the batch

    def poll_one(esm: dict) -> bool:
        if not esm.get("Enabled", True):
            return False
        source_arn = esm.get("EventSourceArn", "")
        try:
            spec = parse_arn(source_arn)
        except ArnParseError:
            return False
        if spec.service != "dynamodb" or spec.account_id != svc.get_account_id() or spec.region != svc.get_region():
            return False
        table_stream = svc._dynamodb_stream_table_from_arn_spec(spec)
        func_rec, _ = svc._get_func_record_for_qualifier(esm["FunctionName"], esm.get("Qualifier"))
        if table_stream is None or func_rec is None:
            return False
        table_name = table_stream[0]
        table = ddb._tables.get(table_name)
        if not table or table.get("LatestStreamArn") != source_arn:
            return False
        horizon, end = ddb.stream_start_position(table_name), ddb.stream_end_position(table_name)
        esm_id = esm["UUID"]
        if end == horizon or svc._esm_backoff_until.get(esm_id, 0) > time.time():
            return False
        with lock:
            if esm_id not in positions:
                positions[esm_id] = horizon if esm.get("StartingPosition") == "TRIM_HORIZON" else end
            position = positions[esm_id] = max(positions[esm_id], horizon)
        limit = batch_limits.get(esm_id, esm.get("BatchSize", 100))
        raw = ddb.stream_records_since(table_name, position, limit)
        if not raw:
            return False
        window = float(esm.get("MaximumBatchingWindowInSeconds") or 0)
        if window and len(raw) < limit and esm_id not in attempts:
            first_seen = gathering_since.setdefault(esm_id, time.time())
            if time.time() - first_seen < window:
                return False  # still gathering
        gathering_since.pop(esm_id, None)

        def advance(count: int) -> bool:
            with lock:
                positions[esm_id] = position + count
            return True

        batch = svc._apply_filter_criteria(raw, esm)
        if not batch:
            return advance(len(raw))
        result = svc._execute_function(func_rec, {"Records": batch})
        failed_at = first_failure(result, batch, esm)
        if failed_at is None:
            attempts.pop(esm_id, None)
            batch_limits.pop(esm_id, None)
            esm["LastProcessingResult"] = f"OK - {len(batch)} records"
            return advance(len(raw))
        if failed_at > 0:  # checkpoint up to the first failure; retry from there
            attempts.pop(esm_id, None)
            return advance(raw.index(batch[failed_at]))
        esm["LastProcessingResult"] = "FAILED"
        if esm.get("BisectBatchOnFunctionError") and len(raw) > 1:
            batch_limits[esm_id] = max(1, len(raw) // 2)  # retry the halves, narrowing to the culprit
            return True
        attempts[esm_id] = attempts.get(esm_id, 0) + 1
        max_retries = esm.get("MaximumRetryAttempts", -1)
        if max_retries is not None and 0 <= int(max_retries) < attempts[esm_id]:
            svc._send_ddb_stream_failure_record(esm, func_rec, raw, source_arn, result, "RetryAttemptsExhausted")
            log.warning("stream records %s..%s of %s parked after %d attempts", raw[0]["dynamodb"]["SequenceNumber"],
                        raw[-1]["dynamodb"]["SequenceNumber"], table_name, attempts[esm_id])
            attempts.pop(esm_id, None)
            batch_limits.pop(esm_id, None)
            return advance(len(raw))
        svc._esm_backoff_until[esm_id] = time.time() + svc._ESM_BACKOFF_SECONDS
        return False

    def poll_dynamodb_streams() -> bool:
        if getattr(ddb, "_stream_records", None) is None:
            return False
        processed = False
        for account_id, region, esm in svc._iter_all_esms():
            account_token = svc._request_account_id.set(account_id)
            region_token = svc._request_region.set(region)
            try:
                processed = poll_one(esm) or processed
            finally:
                svc._request_account_id.reset(account_token)
                svc._request_region.reset(region_token)
        return processed

    svc._poll_dynamodb_streams = poll_dynamodb_streams


def persist_stream_records() -> None:
    """AWS keeps a table's stream records for 24 hours, whatever happens to its readers.
    MiniStack 1.5.33 persists each stream reader's position across a restart but not the
    records: after a restart the stream starts again at position 0 while the reader resumes
    at its old position, so the first records written after the restart are never read.
    Persist the records (and the sequence counter) with the tables."""
    from ministack.services import dynamodb as ddb

    get_state, load_persisted_state = ddb.get_state, ddb.load_persisted_state

    def get_state_with_streams():
        state = get_state()
        state["stream_records"] = copy.deepcopy(ddb._stream_records)
        state["stream_trimmed"] = copy.deepcopy(ddb._stream_trimmed)
        state["stream_sequence_counter"] = ddb._stream_seq_counter
        return state

    def load_with_streams(data):
        result = load_persisted_state(data)
        if data:
            ddb._stream_records.update(data.get("stream_records", {}))
            ddb._stream_trimmed.update(data.get("stream_trimmed", {}))
            ddb._stream_seq_counter = max(ddb._stream_seq_counter, int(data.get("stream_sequence_counter", 0)))
        return result

    ddb.get_state = get_state_with_streams
    ddb.load_persisted_state = load_with_streams


def durable_async_invokes() -> None:
    """AWS: an asynchronous invoke is queued durably once Lambda accepts it; the event is run,
    retried and at last sent to the on-failure destination, whatever happens to the machines.
    MiniStack 1.5.33 keeps it in a thread of the server: a restart loses every event not yet
    run to completion (and every retry waiting its turn). Keep each accepted invocation in the
    Lambda state, saved on shutdown, until it has succeeded or been sent to its destination,
    and resume the ones left on start. A run cut short by the stop runs again: at least once,
    as on AWS.

    The queue is drained at a bounded concurrency (LOCAL_CLOUD_ASYNC_CONCURRENCY, default three
    per core), the rest waiting their turn as throttled async events wait on AWS. MiniStack
    starts a worker process per concurrent invocation (up to ~600 on this machine's memory):
    a burst of retries then has 150 workers cold-starting on 2 cores, each past its timeout,
    each killed and retried: a spiral no event gets out of."""
    import os
    import threading
    import uuid

    from ministack.services import lambda_svc as svc

    slots = threading.BoundedSemaphore(int(os.environ.get("LOCAL_CLOUD_ASYNC_CONCURRENCY") or 3 * (os.cpu_count() or 2)))

    pending: dict[str, dict] = {}  # id -> {"function": arn, "event": ..., "attempt": n, "started": t}
    lock = threading.Lock()
    stopping = threading.Event()  # set when the state is saved on the way out
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
            return
        config = func.get("config") or func
        account_id, region = svc._account_region_from_function_config(config)
        svc._request_account_id.set(account_id)
        svc._request_region.set(region)
        settings = func.get("event_invoke_config") or (func.get("event_invoke_configs") or {}).get("$LATEST") or {}
        retries = settings.get("MaximumRetryAttempts")
        retries = 2 if retries is None else int(retries)
        max_age = int(settings.get("MaximumEventAgeInSeconds", 21600))
        on_failure = ((settings.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
                      or (config.get("DeadLetterConfig") or {}).get("TargetArn") or "")
        if invocation.get("interrupted"):
            # Cut short by the stop: let that run's lease lapse first (a Powertools idempotency
            # record in progress lasts the function's timeout), as AWS's minute-long retry
            # delay does; the local delays are seconds.
            if stopping.wait(int(config.get("Timeout", 3)) + 1):
                return
            invocation["interrupted"] = False
        result, condition = None, None
        while invocation["attempt"] <= retries:
            if invocation["attempt"] > 0:
                delay = min(svc._LAMBDA_ASYNC_RETRY_BASE_SECONDS * 2 ** (invocation["attempt"] - 1),
                            svc._LAMBDA_ASYNC_RETRY_MAX_SECONDS)
                if time.time() - invocation["started"] + delay > max_age:
                    condition = "EventAgeExceeded"
                    break
                if stopping.wait(delay):
                    return  # saved as pending: resumed after the restart
            with slots:
                result = svc._execute_function(func, invocation["event"])
            if result.get("throttle"):  # a throttle is not an attempt: the queue tries again, until the event's age
                result = None
                if time.time() - invocation["started"] > max_age:
                    condition = "EventAgeExceeded"
                    break
                if stopping.wait(1.0):
                    return
                continue
            invocation["invoked"] = invocation.get("invoked", 0) + 1
            if result.get("log"):
                log.info("Lambda %s async output (attempt %d):\n%s", name, invocation["attempt"] + 1, result["log"])
            if not result.get("error"):
                break
            invocation["attempt"] += 1
        else:
            condition = "RetriesExhausted"
        if condition and on_failure:
            if stopping.wait(1.0):
                return  # the failure may be the stop itself (its workers end first)
            _route_async_failure(svc, on_failure, config, invocation["event"], result, condition,
                                 invocation.get("invoked", 0))
        elif condition:
            log.warning("async invoke of %s: %s and no on-failure destination; event dropped as on AWS", name, condition)
        with lock:
            pending.pop(invocation_id, None)

    def start(invocation_id: str) -> None:
        threading.Thread(target=run, args=(invocation_id,), daemon=True).start()

    def invoke_async_with_retry(func: dict, event: dict) -> None:
        config = func.get("config") or func
        invocation_id = str(uuid.uuid4())
        with lock:
            pending[invocation_id] = {"function": config.get("FunctionArn") or config.get("FunctionName"),
                                      "event": event, "attempt": 0, "started": time.time()}
        start(invocation_id)

    def get_state_with_invocations():
        stopping.set()  # MiniStack saves its state only on the way out
        state = get_state()
        with lock:
            state["pending_async_invocations"] = {i: {**copy.deepcopy(v), "interrupted": True} for i, v in pending.items()}
        return state

    def load_with_invocations(data):
        result = load_persisted_state(data)
        left = (data or {}).get("pending_async_invocations") or {}
        with lock:
            pending.update(left)
        if left:
            log.info("resuming %d asynchronous invocations accepted before the restart", len(left))
            # once the server serves: the functions' own calls go back to it
            threading.Timer(2.0, lambda: [start(i) for i in list(left)]).start()
        return result

    svc.invoke_async_with_retry = invoke_async_with_retry
    svc.get_state = get_state_with_invocations
    svc.load_persisted_state = load_with_invocations


def _route_async_failure(svc, target_arn: str, config: dict, event: dict, result: dict | None, condition: str,
                         invoked: int) -> None:
    """The on-failure record as AWS writes it: why the event was given up (RetriesExhausted,
    or EventAgeExceeded, for an event throttled or retried past its maximum age) and how many
    times the function really ran, with its last error when it ran at all. MiniStack 1.5.33
    writes RetriesExhausted and approximateInvokeCount 3 whatever happened. An SQS target gets
    it here; any other target goes through MiniStack's own routing."""
    import hashlib

    from ministack.services import sqs as sqs_svc

    record = {"version": "1.0", "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
              "requestContext": {"requestId": svc.new_uuid(), "functionArn": f"{config.get('FunctionArn', '')}:$LATEST",
                                 "condition": condition, "approximateInvokeCount": invoked},
              "requestPayload": event}
    if result is not None and result.get("error"):
        body = result.get("body") if isinstance(result.get("body"), dict) else {"errorMessage": str(result["error"])}
        record["responseContext"] = {"statusCode": 200, "executedVersion": "$LATEST",
                                     "functionError": result.get("function_error") or "Unhandled"}
        record["responsePayload"] = body
    queue = sqs_svc._queue_by_arn(target_arn) if target_arn.startswith("arn:aws:sqs:") else None
    if queue is None:
        svc._route_async_failure(target_arn, config.get("FunctionName", ""), event, result or {})
        return
    body, now = json.dumps(record), time.time()
    queue["messages"].append({
        "id": svc.new_uuid(), "body": body, "md5_body": hashlib.md5(body.encode()).hexdigest(), "md5_attrs": "",
        "receipt_handle": None, "sent_at": now, "visible_at": now + sqs_svc.queue_delay(queue), "receive_count": 0,
        "first_receive_at": None, "message_attributes": {},
        "sys": {"SenderId": svc.get_account_id(), "SentTimestamp": str(int(now * 1000))},
        "group_id": None, "dedup_id": None, "dedup_cache_key": None, "seq": None,
    })
    svc.esm_wake.set()


def keep_workers_after_handled_errors() -> None:
    """AWS: a Python handler that raises is reported as a function error and its execution
    environment serves the next invocation; only a crash or a timeout resets it. MiniStack
    1.5.33 kills the worker process after every function error, so each failure (a retry, a
    poison event, an idempotency record still in progress) costs a cold start, seconds of CPU
    here: under fault injection the platform spends most of its time starting workers.
    Keep the worker when the handler raised (its answer carries the traceback)."""
    import inspect
    import textwrap

    from ministack.core import lambda_runtime as runtime

    source = textwrap.dedent(inspect.getsource(runtime.Worker.invoke))
    killed_on_error = 'if response.get("status") == "error":'
    if killed_on_error not in source:
        raise RuntimeError("MiniStack's Worker.invoke changed: review keep_workers_after_handled_errors")
    source = source.replace(killed_on_error, 'if response.get("status") == "error" and "trace" not in response:')
    namespace: dict = {}
    exec(compile(source, runtime.__file__, "exec"), vars(runtime), namespace)  # noqa: S102 - one pinned method
    runtime.Worker.invoke = namespace["invoke"]


INVOCATION_END = "\x1eministack-invocation-end"  # a line no handler writes


def end_invocations_without_waiting_for_logs() -> None:
    """AWS: an invocation ends when its handler returns; a function that logs nothing is not
    billed, nor kept waiting, for lines it never writes. MiniStack 1.5.33 cannot tell a silent
    handler from a slow pipe, so after every invocation it waits up to 50 ms for a first log
    line (`Worker._drain_stderr_bounded`): a silent invocation (the publisher's clean batches)
    lasts 50 ms longer than its work, which adds to every hop's latency and to its billed wait.
    The Python worker now writes an end-of-invocation line on its log pipe before its answer,
    and the drain reads up to that line and no further."""
    import queue

    from ministack.core import lambda_runtime as runtime

    loop_end = '        _real_stdout.flush()\n\nrun()'
    if runtime._PYTHON_WORKER_SCRIPT.count(loop_end) != 1:
        raise RuntimeError("MiniStack's Python worker changed: review end_invocations_without_waiting_for_logs")
    runtime._PYTHON_WORKER_SCRIPT = runtime._PYTHON_WORKER_SCRIPT.replace(
        loop_end, f'        sys.stderr.write({INVOCATION_END!r} + "\\n")\n        sys.stderr.flush()\n{loop_end}')
    bounded = runtime.Worker._drain_stderr_bounded

    def drain_to_the_end(self, first_line_wait: float = 0.050, idle_confirm: float = 0.005, hard_cap: float = 0.250) -> str:
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

    runtime.Worker._drain_stderr_bounded = drain_to_the_end


_LOG_LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4, "FATAL": 5, "CRITICAL": 5}
_PLATFORM_LINES = (("START RequestId:", "platform.start"), ("END RequestId:", "platform.runtimeDone"),
                   ("REPORT RequestId:", "platform.report"))
# The shape (and so the size) of the rest of each platform record as AWS writes it.
_PLATFORM_RECORD = {
    "platform.start": {"version": "$LATEST"},
    "platform.runtimeDone": {"status": "success", "metrics": {"durationMs": 12.345, "producedBytes": 0}},
    "platform.report": {"metrics": {"durationMs": 12.345, "billedDurationMs": 13, "memorySizeMB": 256,
                                    "maxMemoryUsedMB": 90}, "status": "success"},
}


def honour_advanced_logging_controls() -> None:
    """AWS: a function whose LoggingConfig has LogFormat JSON writes the platform's START, END
    and REPORT as JSON records (platform.start, platform.runtimeDone, platform.report), and only
    when SystemLogLevel is INFO or lower; application records in JSON with a level below
    ApplicationLogLevel are dropped before they are ingested (and billed). MiniStack 1.5.33
    keeps LoggingConfig but writes every line as text. Apply both levels where it writes a
    function's log lines."""
    import inspect
    import threading

    from ministack.services import cloudwatch_logs, lambda_svc

    emitting = threading.local()
    emit, append = lambda_svc._emit_lambda_logs, cloudwatch_logs._append_log_events
    if "LoggingConfig" not in inspect.getsource(emit):
        raise RuntimeError("MiniStack's _emit_lambda_logs changed: review honour_advanced_logging_controls")

    def emit_with_levels(func, request_id, log_text, error, duration_ms, **kwargs):
        config = func.get("config") or func
        emitting.logging = config.get("LoggingConfig") or {}
        try:
            return emit(func, request_id, log_text, error, duration_ms, **kwargs)
        finally:
            emitting.logging = None

    def append_with_levels(stream, events):
        logging_config = getattr(emitting, "logging", None)
        if logging_config and logging_config.get("LogFormat") == "JSON":
            events = [e for e in (_as_json_record(e, logging_config) for e in events) if e is not None]
        return append(stream, events)

    lambda_svc._emit_lambda_logs = emit_with_levels
    cloudwatch_logs._append_log_events = append_with_levels


def _as_json_record(event: dict, logging_config: dict) -> dict | None:
    """A log event as AWS ingests it for a JSON-format function (None: below its level)."""
    message = str(event.get("message", ""))
    for prefix, kind in _PLATFORM_LINES:
        if message.startswith(prefix):
            if _LOG_LEVELS[logging_config.get("SystemLogLevel", "INFO")] > _LOG_LEVELS["INFO"]:
                return None
            request_id = message.split(prefix, 1)[1].split()[0]
            record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(event["timestamp"] / 1000)),
                      "type": kind, "record": {"requestId": request_id, **_PLATFORM_RECORD[kind]}}
            return {**event, "message": json.dumps(record, separators=(",", ":"))}
    try:
        level = json.loads(message).get("level") if message.startswith("{") else None
    except (ValueError, AttributeError):
        level = None
    threshold = _LOG_LEVELS[logging_config.get("ApplicationLogLevel", "INFO")]
    if isinstance(level, str) and _LOG_LEVELS.get(level.upper(), threshold) < threshold:
        return None
    return event



def accept_schema_registry() -> None:
    """AWS has the EventBridge Schema Registry (AWS::EventSchemas::Registry and ::Schema);
    MiniStack 1.5.33 has no schemas service, and its CloudFormation rejects both types. Accept
    them as records so the same template deploys; nothing serves them locally (the schemas
    are in schemas/ and docs/EVENTS.md)."""
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
            return (create_registry if kind == "registry" else create_schema)(logical_id or physical_id, new_props,
                                                                                stack_name)
        return handler

    def delete(physical_id, props):
        registries.pop(physical_id, None)

    provisioners._RESOURCE_HANDLERS["AWS::EventSchemas::Registry"] = {
        "create": create_registry, "update": update("registry"), "delete": delete}
    provisioners._RESOURCE_HANDLERS["AWS::EventSchemas::Schema"] = {
        "create": create_schema, "update": update("schema"), "delete": delete}


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


FIXES = (
    route_rule_targets_through_async_invoke,
    serve_powertools_layer_parameter,
    provision_event_archives,
    honour_stream_source_settings,
    persist_stream_records,
    durable_async_invokes,
    keep_workers_after_handled_errors,
    end_invocations_without_waiting_for_logs,
    honour_advanced_logging_controls,
    accept_schema_registry,
)


def apply_all() -> None:
    for fix in FIXES:
        fix()
        log.info("local-cloud fix applied: %s", fix.__name__)
