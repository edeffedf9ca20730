"""DynamoDB Streams and their event source mappings: how a stream is read, and kept."""

from __future__ import annotations

import copy
import json
import time

from localcloud import in_flight, stopping
from localcloud.fixes.framework import log, patch, require


class StreamPoller:
    """Reads each DynamoDB-stream event source mapping as AWS does (honour_stream_source_settings):
    a batch at a time per mapping, gathered up to its batching window, retried from its first
    reported failure, bisected, and parked after its retries. Its state: each mapping's failed
    attempts, the batch size it is narrowed to, and when a short batch was first seen; the
    positions are MiniStack's own (saved with its state)."""

    def __init__(self, svc, ddb, parse_arn, arn_error: type[Exception]):
        self.svc, self.ddb = svc, ddb
        self._parse_arn, self._arn_error = parse_arn, arn_error
        self.attempts: dict[str, int] = {}
        self.batch_limits: dict[str, int] = {}
        self.gathering_since: dict[str, float] = {}  # when a batch smaller than BatchSize was first seen
        self.positions, self.lock = svc._dynamodb_stream_positions, svc._dynamodb_stream_positions_lock

    @staticmethod
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

    def poll_all(self) -> bool:
        """One pass over every mapping (MiniStack's `_poll_dynamodb_streams`): whether any read."""
        svc = self.svc
        if getattr(self.ddb, "_stream_records", None) is None or stopping.stopping.is_set():
            return False
        in_flight.changed()  # what changed without a write or a read: a mapping made, deleted, a table gone
        processed = False
        for account_id, region, esm in svc._iter_all_esms():
            account_token = svc._request_account_id.set(account_id)
            region_token = svc._request_region.set(region)
            try:
                processed = self.poll_one(esm) or processed
            finally:
                svc._request_account_id.reset(account_token)
                svc._request_region.reset(region_token)
        return processed

    def poll_one(self, esm: dict) -> bool:
        svc, ddb = self.svc, self.ddb
        if not esm.get("Enabled", True):
            return False
        source_arn = esm.get("EventSourceArn", "")
        try:
            spec = self._parse_arn(source_arn)
        except self._arn_error:
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
        with self.lock:
            if esm_id not in self.positions:
                self.positions[esm_id] = horizon if esm.get("StartingPosition") == "TRIM_HORIZON" else end
            position = self.positions[esm_id] = max(self.positions[esm_id], horizon)
        limit = self.batch_limits.get(esm_id, esm.get("BatchSize", 100))
        raw = ddb.stream_records_since(table_name, position, limit)
        if not raw:
            return False
        window = float(esm.get("MaximumBatchingWindowInSeconds") or 0)
        if window and len(raw) < limit and esm_id not in self.attempts:
            first_seen = self.gathering_since.setdefault(esm_id, time.time())
            if time.time() - first_seen < window:
                return False  # still gathering
        self.gathering_since.pop(esm_id, None)

        batch = svc._apply_filter_criteria(raw, esm)
        if not batch:
            return self._advance(esm_id, position, len(raw))
        config = func_rec.get("config") or func_rec
        # What the batch leads to (the position moved on, the batch parked) is recorded before
        # the stop may save the state: the stop waits for this block.
        with stopping.invocation(int(config.get("Timeout", 3))) as starts:
            if not starts:
                return False  # the stop has begun: read from here again after the restart
            result = svc._execute_function(func_rec, {"Records": batch})
            if result.get("error") and stopping.stopping.is_set():
                return False  # cut by the stop (a kill, a run past its timeout): not an attempt
            return self._settle(esm, func_rec, table_name, position, raw, batch, result)

    def _settle(
        self, esm: dict, func_rec: dict, table_name: str, position: int, raw: list[dict], batch: list[dict], result
    ) -> bool:
        """Move the mapping's position on past what the function handled, or count the attempt:
        retry (narrowed, after a back-off), or park the batch once its retries are spent."""
        svc, esm_id, source_arn = self.svc, esm["UUID"], esm.get("EventSourceArn", "")
        failed_at = self.first_failure(result, batch, esm)
        if failed_at is None:
            self.attempts.pop(esm_id, None)
            self.batch_limits.pop(esm_id, None)
            esm["LastProcessingResult"] = f"OK - {len(batch)} records"
            return self._advance(esm_id, position, len(raw))
        if failed_at > 0:  # checkpoint up to the first failure; retry from there
            self.attempts.pop(esm_id, None)
            return self._advance(esm_id, position, raw.index(batch[failed_at]))
        esm["LastProcessingResult"] = "FAILED"
        if esm.get("BisectBatchOnFunctionError") and len(raw) > 1:
            self.batch_limits[esm_id] = max(1, len(raw) // 2)  # retry the halves, narrowing to the culprit
            return True
        self.attempts[esm_id] = self.attempts.get(esm_id, 0) + 1
        max_retries = esm.get("MaximumRetryAttempts", -1)
        if max_retries is not None and 0 <= int(max_retries) < self.attempts[esm_id]:
            svc._send_ddb_stream_failure_record(esm, func_rec, raw, source_arn, result, "RetryAttemptsExhausted")
            log.warning(
                "stream records %s..%s of %s parked after %d attempts",
                raw[0]["dynamodb"]["SequenceNumber"],
                raw[-1]["dynamodb"]["SequenceNumber"],
                table_name,
                self.attempts[esm_id],
            )
            self.attempts.pop(esm_id, None)
            self.batch_limits.pop(esm_id, None)
            return self._advance(esm_id, position, len(raw))
        svc._esm_backoff_until[esm_id] = time.time() + svc._ESM_BACKOFF_SECONDS
        return False

    def _advance(self, esm_id: str, position: int, count: int) -> bool:
        with self.lock:
            self.positions[esm_id] = position + count
        in_flight.changed()
        return True

    def unread(self) -> int:
        """The records every DynamoDB-stream mapping has still to get past (in flight)."""
        svc, ddb = self.svc, self.ddb
        left = 0
        for account_id, region, esm in svc._iter_all_esms():
            try:
                table_stream = svc._dynamodb_stream_table_from_arn_spec(self._parse_arn(esm.get("EventSourceArn", "")))
            except self._arn_error:
                continue
            if table_stream is None:
                continue
            where = {"account_id": account_id, "region": region}
            end = ddb.stream_end_position(table_stream[0], **where)
            with self.lock:
                position = self.positions.get(esm["UUID"])
            if position is None:  # not polled yet: where it will start
                position = (
                    ddb.stream_start_position(table_stream[0], **where)
                    if esm.get("StartingPosition") == "TRIM_HORIZON"
                    else end
                )
            left += max(0, end - position)
        return left


def honour_stream_source_settings() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    A StreamPoller replaces MiniStack's stream poll. The records its mappings have still to get
    past are part of what the cloud has left to do (localcloud/in_flight.py)."""
    from ministack.core.arn import ArnParseError, parse_arn
    from ministack.services import dynamodb as ddb
    from ministack.services import lambda_svc as svc

    def emit_stream_event(original):
        def emit(table_name, *args, **kwargs):
            original(table_name, *args, **kwargs)
            if ((ddb._tables.get(table_name) or {}).get("StreamSpecification") or {}).get("StreamEnabled"):
                in_flight.changed()  # a record to read: counted before the write's caller goes on

        return emit

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
    poller = StreamPoller(svc, ddb, parse_arn, ArnParseError)
    patch(svc, "_poll_dynamodb_streams", lambda _: poller.poll_all, fix=fix, params=())
    patch(
        ddb,
        "_emit_stream_event",
        emit_stream_event,
        fix=fix,
        params=("table_name", "event_name", "old_item", "new_item", "replicate"),
    )
    in_flight.count("stream records", poller.unread)


def persist_stream_records() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Persist the stream records (and the sequence counter) with the tables, as MiniStack already
    persists each reader's position."""
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
