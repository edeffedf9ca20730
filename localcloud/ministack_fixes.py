"""Where MiniStack differs from AWS in ways this system depends on, each difference fixed here
and only here. The server (localcloud/server.py) applies them before it starts.

Each fix names the AWS behaviour it restores; tests/e2e/test_local_cloud_fidelity.py shows
each difference on an unpatched emulator and the fix on the patched one.

No fix can silently become a no-op: each replaces MiniStack's names through `patch` (or
`register`, for its tables), which checks that the name is there with the parameters the fix
was written against, and logs any exception raised inside the replacement before MiniStack
can swallow it; `require` checks the other private names a fix reads. Start-up refuses any
MiniStack but the pinned one (`check_version`). tests/unit/test_local_cloud_fixes.py applies
them all, with no cloud running.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import inspect
import json
import logging
import secrets
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from common.limits import MAX_ENTRY_BYTES, request_entry_size
from infra.runtime import ARCHITECTURE, POWERTOOLS_LAYER_PARAMETER
from localcloud import in_flight

log = logging.getLogger("localcloud.fixes")

MINISTACK_VERSION = "1.5.33"  # the fixes are written against this MiniStack (requirements.txt pins it)


class FixTargetChanged(RuntimeError):
    """MiniStack is not what a fix was written against: a name is gone or has another shape."""


def check_version(installed: str | None = None) -> None:
    installed = installed or importlib.metadata.version("ministack")
    if installed != MINISTACK_VERSION:
        raise FixTargetChanged(
            f"MiniStack {installed} is installed; the local cloud's fixes (localcloud/ministack_fixes.py) are written "
            f"for {MINISTACK_VERSION}. Run `make install` to get the pinned version, or review each fix against "
            f"{installed} and move the pin."
        )


_MISSING = object()


def _where(owner: Any, name: str) -> str:
    return (
        f"{getattr(owner, '__module__', '')}.{getattr(owner, '__qualname__', getattr(owner, '__name__', owner))}.{name}"
        if inspect.isclass(owner)
        else f"{getattr(owner, '__name__', owner)}.{name}"
    )


def require(owner: Any, *names: str, fix: str) -> None:
    """The private names a fix reads (not replaces) are there."""
    for name in names:
        if getattr(owner, name, _MISSING) is _MISSING:
            raise FixTargetChanged(f"{fix}: MiniStack {MINISTACK_VERSION} had {_where(owner, name)}; this one has not")


def patch(
    owner: Any, name: str, wrap: Callable[[Any], Callable], *, fix: str, params: tuple[str, ...] | None = None
) -> Callable:
    """Replace owner.name by wrap(original), once it is checked to be there and, with `params`,
    to take those parameters. An exception raised inside the replacement is logged (MiniStack
    catches and drops many) and raised again. Returns the original."""
    require(owner, name, fix=fix)
    original = getattr(owner, name)
    if params is not None:
        found = tuple(inspect.signature(original).parameters)
        if found != params:
            raise FixTargetChanged(
                f"{fix}: {_where(owner, name)} takes ({', '.join(found)}); the fix was written "
                f"for ({', '.join(params)})"
            )
    setattr(owner, name, logged(wrap(original), f"{fix}: {_where(owner, name)}"))
    return original


def register(table: Any, key: str, value: Any, *, fix: str, where: str) -> None:
    """Add an entry to one of MiniStack's tables (resource handlers, public parameters); a
    handler's functions log what they raise, as `patch`'s replacements do."""
    if not isinstance(table, dict):
        raise FixTargetChanged(f"{fix}: {where} is no longer a dict")
    if isinstance(value, dict):
        value = {k: logged(v, f"{fix}: {where}[{key!r}][{k!r}]") if callable(v) else v for k, v in value.items()}
    table[key] = value


def logged(function: Callable, what: str) -> Callable:
    """`function`, with any exception it raises logged with its traceback, then raised again."""
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def run_async(*args, **kwargs):
            try:
                return await function(*args, **kwargs)
            except Exception:
                log.exception("local-cloud fix raised (%s)", what)
                raise

        return run_async

    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Exception:
            log.exception("local-cloud fix raised (%s)", what)
            raise

    return run


# Never fetched: MiniStack runs functions on its own interpreter, whose environment already
# has Powertools and pydantic (requirements.txt), so the layer only needs to resolve.
POWERTOOLS_LAYER_ARN = (
    f"arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-{ARCHITECTURE}:1"
)


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

    fix = "route_rule_targets_through_async_invoke"
    require(lambda_svc, "_get_func_record_for_ref", "invoke_async_with_retry", fix=fix)
    patch(eventbridge, "_dispatch_to_lambda", lambda _: dispatch_to_lambda, fix=fix, params=("arn", "payload"))


def serve_powertools_layer_parameter() -> None:
    """AWS publishes each Powertools layer ARN as a public SSM parameter, which the stacks
    resolve at deploy time. MiniStack serves only two public (AMI) parameters."""
    from ministack.services import ssm

    require(ssm, "_PUBLIC_AMI_PARAMETERS", fix="serve_powertools_layer_parameter")
    register(
        ssm._PUBLIC_AMI_PARAMETERS,
        POWERTOOLS_LAYER_PARAMETER,
        POWERTOOLS_LAYER_ARN,
        fix="serve_powertools_layer_parameter",
        where="ssm._PUBLIC_AMI_PARAMETERS",
    )


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


def validate_put_events() -> None:
    """AWS: PutEvents refuses the whole request (ValidationException) when it has no entry or
    more than 10, or when its entries come to more than 1 MB (256 KB before 2026-01-29), counted as AWS counts them
    (Source, DetailType, Detail and each of Resources in UTF-8 bytes, Time as 14 bytes). It
    fails entry by entry, the others of the call delivered, an entry without Source, DetailType
    or Detail (InvalidArgument) or whose Detail is not a JSON object (MalformedDetail). An entry
    for a bus that does not exist is accepted and goes nowhere (AWS answers it with an EventId;
    aws/aws-cli#9186). MiniStack 1.5.33 checks only the count of 10: a Detail that is not JSON
    is delivered to every rule that matches its source and type (and parked by each consumer),
    and an entry of any size is taken."""
    from ministack.core.responses import error_response_json, json_response
    from ministack.services import eventbridge

    def refuse(entry: Any) -> dict[str, str] | None:
        if not isinstance(entry, dict):
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Entry is not valid."}
        for name in ("Source", "DetailType", "Detail"):
            if not entry.get(name):
                return {
                    "ErrorCode": "InvalidArgument",
                    "ErrorMessage": f"Parameter {name} is not valid. Reason: {name} is a required argument.",
                }
        try:
            detail = json.loads(entry["Detail"])
        except (TypeError, ValueError):
            detail = None
        if not isinstance(detail, dict):
            return {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
        if not isinstance(entry.get("TraceHeader", ""), str):  # an SDK refuses it before it is sent
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter TraceHeader is not valid."}
        return None

    def put_events(original):
        def validated(data, allow_aws_source=False):
            entries = data.get("Entries") if isinstance(data, dict) else None
            if not entries:
                return error_response_json(
                    "ValidationException",
                    "1 validation error detected: Value '[]' at 'entries' "
                    "failed to satisfy constraint: Member must have length greater than or equal "
                    "to 1",
                    400,
                )
            if len(entries) <= 10 and sum(map(put_events_entry_size, entries)) > MAX_PUT_EVENTS_BYTES:
                return error_response_json(
                    "ValidationException", "Total size of the entries in the request is over the limit.", 400
                )
            refused = {n: problem for n, entry in enumerate(entries) if (problem := refuse(entry))}
            if not refused or len(entries) > 10:
                return original(data, allow_aws_source)  # MiniStack's own answer for more than 10
            kept = [entry for n, entry in enumerate(entries) if n not in refused]
            answer = {"FailedEntryCount": 0, "Entries": []}
            if kept:
                status, _headers, body = original({**data, "Entries": kept}, allow_aws_source)
                if status >= 400:
                    return status, _headers, body
                answer = json.loads(body)
            delivered = iter(answer["Entries"])
            results = [refused[n] if n in refused else next(delivered) for n in range(len(entries))]
            return json_response({"FailedEntryCount": answer["FailedEntryCount"] + len(refused), "Entries": results})

        return validated

    patch(eventbridge, "_put_events", put_events, fix="validate_put_events", params=("data", "allow_aws_source"))


def verify_api_signatures() -> None:
    """AWS: an API Gateway method with AWS_IAM authorization (every route of this API) checks the
    request's SigV4 signature before anything else: a key it does not know is a 403
    UnrecognizedClientException, a wrong or tampered signature (another secret, a body or path
    changed after signing) a 403 InvalidSignatureException, and an Authorization header that is
    not a signature at all (a customer's Cognito ID token on a staff route) a 403
    IncompleteSignatureException. MiniStack 1.5.33 with its AUTH switch off only checks that an
    Authorization header is there; with it on, it also enforces IAM policies on every service,
    which the local cloud does not model. Verify the signature against the local cloud's key
    pair (LOCAL_CLOUD_KEY_PAIR, `id:secret`), and refuse any other header on an AWS_IAM method as
    AWS does; the caller's IAM policies stay unchecked (docs/LOCAL-CLOUD.md)."""
    import os

    from ministack import app
    from ministack.core import sigv4
    from ministack.core.iam_evaluator import AuthError

    fix = "verify_api_signatures"
    require(app, "_parse_execute_api_url", "_get_module", fix=fix)
    require(app, "_execute_api_authorization_type", fix=fix)
    require(sigv4, "parse_header_signature", "header_signature_failure", "foreign_authorization_failure", fix=fix)
    key_id, _, secret = os.environ.get("LOCAL_CLOUD_KEY_PAIR", "test:test").partition(":")

    def refusal(method: str, raw_path: str, headers: dict, body: bytes, query_params: dict) -> tuple[str, str] | None:
        signature = sigv4.parse_header_signature(headers)
        if isinstance(signature, tuple):
            return signature
        if signature.access_key_id != key_id:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        return sigv4.header_signature_failure(signature, secret, method, raw_path, query_params, headers, body or b"")

    def handle(original):
        async def verified(host, path, method, headers, body, query_params, raw_path=None, raw_query_string=None):
            parsed = app._parse_execute_api_url(host, path)
            header = headers.get("authorization", "")
            refused = None
            if parsed is not None and header.startswith("AWS4-HMAC-SHA256"):
                refused = refusal(method, raw_path or path, headers, body, query_params)
            elif (
                parsed is not None
                and header
                and app._execute_api_authorization_type(*parsed[:2], method, parsed[2]) == "AWS_IAM"
            ):
                refused = sigv4.foreign_authorization_failure(headers)
            if refused:
                api_id, stage, _ = parsed
                answer = app._get_module("apigateway_v1").authentication_error_response(
                    api_id, stage, AuthError(*refused), headers, query_params
                )
                return answer or (
                    403,
                    {"Content-Type": "application/json", "x-amzn-ErrorType": refused[0]},
                    json.dumps({"message": refused[1]}).encode(),
                )
            return await original(host, path, method, headers, body, query_params, raw_path, raw_query_string)

        return verified

    patch(
        app,
        "_handle_execute_api_request",
        handle,
        fix=fix,
        params=("host", "path", "method", "headers", "body", "query_params", "raw_path", "raw_query_string"),
    )


def take_only_id_tokens_without_scopes() -> None:
    """AWS: a REST method with a COGNITO_USER_POOLS authorizer and no authorization scopes
    "treats the supplied token as an identity token": an access token of the same pool is a 401
    Unauthorized. MiniStack 1.5.33 takes either kind of token there, so a customer's access token
    (which names no app client in `aud`) would reach the function. Refuse any token whose
    `token_use` is not `id` on a method without scopes; with scopes, MiniStack's own check (an
    access token carrying one of them) is AWS's."""
    from ministack.services import apigateway_v1

    fix = "take_only_id_tokens_without_scopes"
    require(apigateway_v1, "_gw_error", fix=fix)

    def validate(original):
        async def id_tokens_only(authorizer, method_obj, headers, query_params, stage):
            claims, error = await original(authorizer, method_obj, headers, query_params, stage)
            if error is None and not method_obj.get("authorizationScopes") and claims.get("token_use") != "id":
                return None, apigateway_v1._gw_error("UNAUTHORIZED", "Unauthorized")
            return claims, error

        return id_tokens_only

    patch(
        apigateway_v1,
        "_validate_cognito_authorizer",
        validate,
        fix=fix,
        params=("authorizer", "method_obj", "headers", "query_params", "stage"),
    )


MAX_PUT_EVENTS_BYTES = MAX_ENTRY_BYTES  # AWS's 1 MB, for the whole request's entries


def put_events_entry_size(entry: Any) -> int:
    """An entry's size as EventBridge counts it against the request's 1 MB."""
    return request_entry_size(entry) if isinstance(entry, dict) else 0


def honour_stream_source_settings() -> None:
    """AWS: a DynamoDB-stream event source checkpoints past the records a function reports as
    succeeded (ReportBatchItemFailures), splits a failing batch (BisectBatchOnFunctionError),
    and after MaximumRetryAttempts sends the failing records to the on-failure destination.
    MiniStack 1.5.33 advances past the whole batch whatever the function reports (a reported
    failure is dropped), and retries a failing batch until MaximumRecordAgeInSeconds, never
    bisecting, never honouring MaximumRetryAttempts; and it invokes the function as soon as one
    record is there, where AWS waits up to MaximumBatchingWindowInSeconds to gather a fuller
    batch. This poller replaces its stream poll. The records its mappings have still to get
    past are part of what the cloud has left to do (localcloud/in_flight.py)."""
    from ministack.core.arn import ArnParseError, parse_arn
    from ministack.services import dynamodb as ddb
    from ministack.services import lambda_svc as svc

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
        failed = (
            {f.get("itemIdentifier") for f in (body or {}).get("batchItemFailures", [])}
            if isinstance(body, dict)
            else set()
        )
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
            in_flight.changed()
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
            log.warning(
                "stream records %s..%s of %s parked after %d attempts",
                raw[0]["dynamodb"]["SequenceNumber"],
                raw[-1]["dynamodb"]["SequenceNumber"],
                table_name,
                attempts[esm_id],
            )
            attempts.pop(esm_id, None)
            batch_limits.pop(esm_id, None)
            return advance(len(raw))
        svc._esm_backoff_until[esm_id] = time.time() + svc._ESM_BACKOFF_SECONDS
        return False

    def unread() -> int:
        """The records every DynamoDB-stream mapping has still to get past (in flight)."""
        left = 0
        for account_id, region, esm in svc._iter_all_esms():
            try:
                table_stream = svc._dynamodb_stream_table_from_arn_spec(parse_arn(esm.get("EventSourceArn", "")))
            except ArnParseError:
                continue
            if table_stream is None:
                continue
            where = {"account_id": account_id, "region": region}
            end = ddb.stream_end_position(table_stream[0], **where)
            with lock:
                position = positions.get(esm["UUID"])
            if position is None:  # not polled yet: where it will start
                position = (
                    ddb.stream_start_position(table_stream[0], **where)
                    if esm.get("StartingPosition") == "TRIM_HORIZON"
                    else end
                )
            left += max(0, end - position)
        return left

    def emit_stream_event(original):
        def emit(table_name, *args, **kwargs):
            original(table_name, *args, **kwargs)
            if ((ddb._tables.get(table_name) or {}).get("StreamSpecification") or {}).get("StreamEnabled"):
                in_flight.changed()  # a record to read: counted before the write's caller goes on

        return emit

    def poll_dynamodb_streams() -> bool:
        if getattr(ddb, "_stream_records", None) is None:
            return False
        in_flight.changed()  # what changed without a write or a read: a mapping made, deleted, a table gone
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

    fix = "honour_stream_source_settings"
    require(
        svc,
        "_dynamodb_stream_positions",
        "_dynamodb_stream_positions_lock",
        "_get_func_record_for_qualifier",
        "_dynamodb_stream_table_from_arn_spec",
        "_esm_backoff_until",
        "_apply_filter_criteria",
        "_execute_function",
        "_send_ddb_stream_failure_record",
        "_ESM_BACKOFF_SECONDS",
        "_iter_all_esms",
        "_request_account_id",
        "_request_region",
        "get_account_id",
        "get_region",
        fix=fix,
    )
    require(ddb, "_tables", "stream_start_position", "stream_end_position", "stream_records_since", fix=fix)
    patch(svc, "_poll_dynamodb_streams", lambda _: poll_dynamodb_streams, fix=fix, params=())
    patch(
        ddb,
        "_emit_stream_event",
        emit_stream_event,
        fix=fix,
        params=("table_name", "event_name", "old_item", "new_item", "replicate"),
    )
    in_flight.count("stream records", unread)


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

    fix = "persist_stream_records"
    require(ddb, "_stream_records", "_stream_trimmed", "_stream_seq_counter", fix=fix)
    patch(ddb, "get_state", lambda _: get_state_with_streams, fix=fix, params=())
    patch(ddb, "load_persisted_state", lambda _: load_with_streams, fix=fix, params=("data",))


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
    each killed and retried: a spiral no event gets out of.

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
                delay = min(
                    svc._LAMBDA_ASYNC_RETRY_BASE_SECONDS * 2 ** (invocation["attempt"] - 1),
                    svc._LAMBDA_ASYNC_RETRY_MAX_SECONDS,
                )
                if time.time() - invocation["started"] + delay > max_age:
                    condition = "EventAgeExceeded"
                    break
                if stopping.wait(delay):
                    return  # saved as pending: resumed after the restart
            with slots, _continuing(invocation.get("traceHeader")):
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
            _route_async_failure(
                svc, on_failure, config, invocation["event"], result, condition, invocation.get("invoked", 0)
            )
        elif condition:
            log.warning(
                "async invoke of %s: %s and no on-failure destination; event dropped as on AWS", name, condition
            )
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
                "traceHeader": _inbound_trace.get(),
            }  # the trace the event goes on in
            in_flight.changed()
        start(invocation_id)

    def get_state_with_invocations():
        stopping.set()  # MiniStack saves its state only on the way out
        state = get_state()
        with lock:
            state["pending_async_invocations"] = {
                i: {**copy.deepcopy(v), "interrupted": True} for i, v in pending.items()
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
            threading.Timer(2.0, lambda: [start(i) for i in list(left)]).start()
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
    """AWS: UpdateFunctionConfiguration (a changed environment, timeout...) applies to the
    invocations that start after it; the ones running finish as they began. MiniStack 1.5.33
    kills every worker of the function, busy ones too: a run is cut wherever it is, between an
    email going out and its record saying so, say, and its retry sends the email again. Take the
    function's workers out of the pool as MiniStack does (new invocations get new workers), but
    stop a busy one only when its invocation gives it back."""
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
    """AWS: an invocation ends when its handler returns; a function that logs nothing is not
    billed, nor kept waiting, for lines it never writes. MiniStack 1.5.33 cannot tell a silent
    handler from a slow pipe, so after every invocation it waits up to 50 ms for a first log
    line (`Worker._drain_stderr_bounded`): a silent invocation (the publisher's clean batches)
    lasts 50 ms longer than its work, which adds to every hop's latency and to its billed wait.
    The Python worker now writes an end-of-invocation line on its log pipe before its answer,
    and the drain reads up to that line and no further."""
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


_LOG_LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "WARNING": 3, "ERROR": 4, "FATAL": 5, "CRITICAL": 5}
_PLATFORM_LINES = (
    ("START RequestId:", "platform.start"),
    ("END RequestId:", "platform.runtimeDone"),
    ("REPORT RequestId:", "platform.report"),
)
# The shape (and so the size) of the rest of each platform record as AWS writes it.
_PLATFORM_RECORD: dict[str, dict[str, Any]] = {
    "platform.start": {"version": "$LATEST"},
    "platform.runtimeDone": {"status": "success", "metrics": {"durationMs": 12.345, "producedBytes": 0}},
    "platform.report": {
        "metrics": {"durationMs": 12.345, "billedDurationMs": 13, "memorySizeMB": 256, "maxMemoryUsedMB": 90},
        "status": "success",
    },
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
        raise FixTargetChanged("MiniStack's _emit_lambda_logs changed: review honour_advanced_logging_controls")

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

    fix = "honour_advanced_logging_controls"
    patch(
        lambda_svc,
        "_emit_lambda_logs",
        lambda _: emit_with_levels,
        fix=fix,
        params=("func", "request_id", "log_text", "error", "duration_ms", "log_source"),
    )
    patch(cloudwatch_logs, "_append_log_events", lambda _: append_with_levels, fix=fix, params=("stream", "events"))


def _as_json_record(event: dict, logging_config: dict) -> dict | None:
    """A log event as AWS ingests it for a JSON-format function (None: below its level)."""
    message = str(event.get("message", ""))
    for prefix, kind in _PLATFORM_LINES:
        if message.startswith(prefix):
            if _LOG_LEVELS[logging_config.get("SystemLogLevel", "INFO")] > _LOG_LEVELS["INFO"]:
                return None
            request_id = message.split(prefix, 1)[1].split()[0]
            record = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(event["timestamp"] / 1000)),
                "type": kind,
                "record": {"requestId": request_id, **_PLATFORM_RECORD[kind]},
            }
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


def serve_xray() -> None:
    """AWS: X-Ray keeps the segments Lambda and the functions record, and serves them by trace.
    MiniStack 1.5.33 has no X-Ray: the outbox's PutTraceSegments is "Unsupported service". Serve
    the local cloud's (localcloud/xray.py)."""
    from ministack import app

    from localcloud import xray

    register(
        app.SERVICE_HANDLERS, "xray", xray.handle_request, fix="serve_xray", where="ministack.app.SERVICE_HANDLERS"
    )


# The trace an invocation is to continue (an EventBridge entry's TraceHeader), and what the
# invocation running in this thread was given (its header, and the segment it continues).
_inbound_trace: ContextVar[str | None] = ContextVar("inbound_trace", default=None)
_invocation: ContextVar[dict | None] = ContextVar("invocation", default=None)
_entry_traces: ContextVar[list | None] = ContextVar("entry_traces", default=None)


class _continuing:
    """Within it, an invocation continues `header`'s trace."""

    def __init__(self, header: str | None):
        self._header, self._token = header, None

    def __enter__(self):
        self._token = _inbound_trace.set(self._header)

    def __exit__(self, *_):
        _inbound_trace.reset(self._token)


def continue_traces_across_the_bus() -> None:
    """AWS: EventBridge invokes a rule's Lambda target in the trace of the entry's TraceHeader;
    Lambda gives the invocation that trace, with its own segment as the parent (an Active
    function given no trace starts one; a PassThrough one continues only a sampled trace), and
    records that segment when the invocation ends.
    MiniStack 1.5.33 drops the TraceHeader, starts a new trace for each invocation of an Active
    function, and records no segment. Carry each entry's header to its targets' invocations
    (through the durable async queue: retries stay in the trace), decide each invocation's trace
    as Lambda does, and record its segment in the local X-Ray."""
    from ministack.services import eventbridge
    from ministack.services import lambda_svc as svc

    from localcloud import xray

    def key(entry: dict) -> tuple:
        return entry.get("Source"), entry.get("DetailType"), entry.get("Detail")

    def put_events(original):
        def remembering(data, allow_aws_source=False):
            entries = data.get("Entries") if isinstance(data, dict) else None
            traces = [(key(e), e["TraceHeader"]) for e in entries or [] if isinstance(e, dict) and e.get("TraceHeader")]
            token = _entry_traces.set(traces)
            try:
                return original(data, allow_aws_source)
            finally:
                _entry_traces.reset(token)

        return remembering

    def dispatch_event(original):
        def in_its_trace(event, view=None):
            traces = _entry_traces.get() or []
            found = next((n for n, (k, _) in enumerate(traces) if k == key(event)), None)
            with _continuing(traces.pop(found)[1] if found is not None else None):
                return original(event, view)

        return in_its_trace

    def trace_for(original):
        def decide(config, inbound_trace_header=None):
            inbound = inbound_trace_header or _inbound_trace.get()
            inbound = inbound if isinstance(inbound, str) else None
            active = (config.get("TracingConfig") or {}).get("Mode") == "Active"
            fields = dict(part.split("=", 1) for part in (inbound or "").split(";") if "=" in part)
            if "Root" in fields:
                sampled = fields.get("Sampled") or ("1" if active else "0")
                header = f"Root={fields['Root']};Parent={secrets.token_hex(8)};Sampled={sampled}"
                parent = fields.get("Parent")
            elif active:
                header, parent = original(config), None
            else:
                return None
            invocation = _invocation.get()
            if invocation is not None:
                invocation.update(header=header, parent=parent)
            return header

        return decide

    def execute(original):
        def recorded(func, event):
            invocation: dict = {}
            token = _invocation.set(invocation)
            started = time.time()
            try:
                result = original(func, event)
            finally:
                _invocation.reset(token)
            if invocation.get("header"):
                config = func.get("config") or func
                xray.record_invocation(
                    config.get("FunctionName", "?"),
                    invocation["header"],
                    invocation.get("parent"),
                    started,
                    time.time(),
                    isinstance(result, dict) and bool(result.get("error")),
                )
            return result

        return recorded

    fix = "continue_traces_across_the_bus"
    patch(eventbridge, "_put_events", put_events, fix=fix, params=("data", "allow_aws_source"))
    patch(eventbridge, "_dispatch_event", dispatch_event, fix=fix, params=("event", "view"))
    patch(svc, "_xray_trace_id_for_invocation", trace_for, fix=fix, params=("config", "inbound_trace_header"))
    patch(svc, "_execute_function", execute, fix=fix, params=("func", "event"))


FIXES = (
    validate_put_events,
    verify_api_signatures,
    take_only_id_tokens_without_scopes,
    route_rule_targets_through_async_invoke,
    serve_powertools_layer_parameter,
    provision_event_archives,
    honour_stream_source_settings,
    persist_stream_records,
    durable_async_invokes,
    keep_workers_after_handled_errors,
    finish_running_invocations_on_update,
    end_invocations_without_waiting_for_logs,
    honour_advanced_logging_controls,
    accept_schema_registry,
    serve_xray,
    continue_traces_across_the_bus,
)


def meter_billing(path: str) -> None:
    """Not a difference from AWS: the benchmark's meter (localcloud/meter.py), which counts what
    AWS would bill, wrapped around MiniStack's request handlers and worker, with the same checks
    as the fixes. Applied only when LOCAL_CLOUD_METER names the file to write the counts to."""
    from ministack.core import lambda_runtime
    from ministack.services import cloudwatch_logs, dynamodb, eventbridge, ses, sqs

    from localcloud import meter

    fix, handler = "meter_billing", ("method", "path", "headers", "body", "query_params")
    require(eventbridge, "_archives", fix=fix)
    require(cloudwatch_logs, "_log_groups", fix=fix)
    patch(dynamodb, "handle_request", meter._metered_dynamodb, fix=fix, params=handler)
    patch(
        lambda_runtime.Worker,
        "invoke",
        meter._metered_worker_invoke,
        fix=fix,
        params=("self", "event", "request_id", "trace_id", "depth", "durable", "invoked_function_arn"),
    )
    patch(eventbridge, "handle_request", meter._metered_events, fix=fix, params=handler)
    patch(
        eventbridge,
        "_archive_event",
        lambda original: meter._metered_archive(original, lambda: eventbridge._archives),
        fix=fix,
        params=("event", "view"),
    )
    patch(ses, "handle_request", meter._metered_ses, fix=fix, params=handler)
    patch(sqs, "handle_request", meter._metered_sqs, fix=fix, params=handler)
    meter.start_flushing(path, lambda: cloudwatch_logs._log_groups)


def apply_all() -> None:
    check_version()
    for fix in FIXES:
        fix()
        log.info("local-cloud fix applied: %s", fix.__name__)
