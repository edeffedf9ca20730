"""The scenarios. Each puts `orders` orders (and whatever else it is about) through the
platform with one kind of trouble switched on, switches it off, waits for the platform to
settle, and returns the audit's rows with its own checks added."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from chaos import corpus
from chaos.audit import Row, audit, batch_events, dead_letters, settle, stored_events
from chaos.world import PRICE, PUBLISHER_NAME, Scope, World
from eventstore.answers import PAYMENTS, RESERVATIONS
from infra.consumers import consumers_of
from ops.redrive import STREAM_BATCH, Redrive

Scenario = Callable[..., list[Row]]  # (world, orders), and the fault scenarios' rate


def _all_completed(world: World, scope: Scope, row: Row, order_ids: list[str] | None = None) -> None:
    order_ids = order_ids if order_ids is not None else scope.orders
    states = world.read_model(order_ids)
    done = sum(1 for o in order_ids if states.get(o, {}).get("status", {}).get("S") == "COMPLETED")
    row.checks[f"orders completed: {done}/{len(order_ids)}"] = done == len(order_ids)


# ---- transient faults -------------------------------------------------------------------------


def transient(world: World, orders: int, rate: float = 0.1) -> list[Row]:
    """A fraction of every consumer's and the publisher's invocations fail, before or after the
    work. Everything is processed after retries, or parked with its reason; then, the fault
    gone, the parked events are redriven and every order completes."""
    scope = world.scope("transient", orders)
    functions = [*world.consumers(), PUBLISHER_NAME]
    return _faulted_then_redriven(
        world,
        scope,
        orders,
        f"transient faults ({rate:.0%} of invocations)",
        functions,
        {"rate": str(rate), "seed": str(world.seed)},
        must_park=True,
    )


def _faulted_then_redriven(
    world: World,
    scope: Scope,
    orders: int,
    label: str,
    functions: list[str],
    switches: dict[str, str],
    *,
    must_park: bool,
    checks: Callable[[Row], None] | None = None,
    lambda_client=None,
) -> list[Row]:
    """`orders` placed with `switches` on `functions`; switched off, the audit; then every dead
    letter redriven (through `lambda_client` if given), and the audit again: nothing lost or
    duplicated, nothing left parked, every order settled."""
    world.switch(functions, **switches)
    try:
        world.place_orders(scope, orders)
        settle(world, scope)
    finally:
        world.switch(functions, **dict.fromkeys(switches))
    first = audit(world, scope)
    first.scenario = label
    if checks:
        checks(first)
    # with must_park, at least one: a run that parked nothing tested neither the reasons nor the redrive
    first.checks[
        f"parked events carry a reason: {sum(map(bool, first.reasons))}/{len(first.reasons)}"
        + (", at least 1" if must_park else "")
    ] = all(first.reasons) and (bool(first.reasons) or not must_park)
    return [first, _redriven(world, scope, must_park=must_park, lambda_client=lambda_client)]


def _redriven(world: World, scope: Scope, *, must_park: bool, lambda_client=None) -> Row:
    """The scope's dead letters redriven, the platform settled again, and the audit's row: nothing
    left parked, every order settled (or cancelled and compensated)."""
    redriven = _redrive_all(world, scope, lambda_client=lambda_client)
    settle(world, scope)
    row = audit(world, scope)
    row.scenario = f"  ... then {redriven} dead letters redriven"
    row.checks[f"nothing left parked, {redriven} redriven" + (" (at least 1)" if must_park else "")] = (
        row.parked == 0 and (redriven >= 1 or not must_park)
    )
    _settled_and_compensated(world, scope, row)
    return row


def _claims_lapsed(world: World, held: list[str], patience: float = 120) -> None:
    """Until the email claims of these parked events have lapsed. A run that failed after
    claiming an email holds it for CLAIM_SECONDS; on AWS the first retry comes about a minute
    later and finds it lapsed, locally retries come seconds apart, meet the claim and park the
    event ("claimed by a run still in progress"). A redrive before the claim lapses would park it
    again: the operator, like this, redrives after."""
    claims = world.batch_get(world.outputs["EmailLogTableName"], "id", [f"sent#{i}" for i in held], ("claimedUntil",))
    until = max((int(c["claimedUntil"]["N"]) for c in claims if "claimedUntil" in c), default=0)
    if until:
        world.log(
            f"  {len(held)} parked on a held email claim: redriven once it lapses, in {until - time.time():.0f} s"
        )
        time.sleep(max(0.0, min(patience, until + 1 - time.time())))


def _redrive_all(world: World, scope: Scope, *, lambda_client=None, passes: int = 5) -> int:
    """Every dead letter of the scope's events, at every function, re-sent and deleted (another
    scenario's are left where they are); a re-send that fails (the Lambda API throttling the
    tool, say) keeps its message for the next pass."""
    ours = {e["eventId"] for e in stored_events(world, scope.prefix)}
    redriven = 0
    for attempt in range(passes):
        left = 0
        parked = [p for p in dead_letters(world) if p.event_id in ours]
        if attempt == 0:
            _claims_lapsed(world, [p.event_id for p in parked if "claimed by a run" in p.reason])
        # only the queues holding one of ours: the tool's read of a queue waits out two empty polls
        for owner in sorted({p.owner for p in parked}):
            redrive = Redrive(owner, world.outputs.values, sqs=world.sqs, lambda_=lambda_client or world.lambda_)
            for message in redrive.parked(hold_seconds=120):
                events = batch_events(world, message) if message.kind == STREAM_BATCH else [message.event_id]
                if not ours.intersection(events):
                    continue
                try:
                    redrive.resend(message)
                except Exception as error:
                    world.log(f"  redrive of {message.event_id} to {owner} failed, kept: {error}")
                    left += 1
                    continue
                redrive.delete(message)
                redriven += 1
        if not left:
            break
        time.sleep(2)
    return redriven


def _settled_and_compensated(world: World, scope: Scope, row: Row) -> None:
    """Every order COMPLETED, or CANCELLED by the saga's timeout while one of its events sat
    parked: then whatever was charged was refunded and whatever was reserved released."""
    states = world.read_model(scope.orders)
    status = {o: states.get(o, {}).get("status", {}).get("S") for o in scope.orders}
    completed = sum(1 for v in status.values() if v == "COMPLETED")
    cancelled = [o for o, v in status.items() if v == "CANCELLED"]
    row.checks[
        f"orders settled: {completed} completed, {len(cancelled)} cancelled by the saga timeout, of {len(scope.orders)}"
    ] = completed + len(cancelled) == len(scope.orders)
    facts = {(e["aggregateId"], e["eventType"]) for e in stored_events(world, scope.prefix)}
    owed = [
        o
        for o in cancelled
        if (
            (PAYMENTS.stream(o), "PAYMENT_PROCESSED") in facts and (PAYMENTS.stream(o), "PAYMENT_REFUNDED") not in facts
        )
        or (
            (RESERVATIONS.stream(o), "INVENTORY_UPDATED") in facts
            and (RESERVATIONS.stream(o), "INVENTORY_RELEASED") not in facts
        )
    ]
    row.checks[f"cancelled orders refunded and released: {len(cancelled) - len(owed)}/{len(cancelled)}"] = not owed


# ---- faults AWS produces: throttling, partial PutEvents, timeouts, stale events -----------------


def throttling(world: World, orders: int, rate: float = 0.1) -> list[Row]:
    """Half of `rate` of every function's AWS calls meet a throttle burst (DynamoDB
    ProvisionedThroughputExceeded and ThrottlingException, EventBridge and SQS
    ThrottlingException, SES Throttling) lasting 1, 2 or all 3 of the SDK's attempts. The SDK
    retries the short ones; past its retries an API answers 503 and the client sends again with
    its Idempotency-Key, and a consumer or the publisher fails and Lambda retries it. The dead
    letters are then redriven by the tool with its own Lambda calls throttled
    (TooManyRequestsException): a re-send refused is kept for the next pass."""
    share = rate / 2
    scope = world.scope("throttling", orders)
    functions = sorted(world.outputs.function_names())  # every one: APIs, consumers, publisher, sweep, fold
    since, before = time.time(), Counter(world.statuses)

    def checks(row: Row) -> None:
        throttled = world.logged(functions, "fault injected: AWS call throttled", since)
        exhausted = sum(1 for record in throttled if record.get("exhausted"))
        codes = ", ".join(sorted({record["code"] for record in throttled}))
        row.checks[
            f"attempts throttled: {len(throttled)} ({codes}), {exhausted} calls past the SDK's retries; "
            "at least 1 of each"
        ] = exhausted >= 1 and len(throttled) > exhausted
        answers = world.statuses - before
        other = sum(n for status, n in answers.items() if status >= 500 and status != 503)
        row.checks[
            f"API answers 503 (busy: sent again with the same key): {answers.get(503, 0)}; any other 5xx: {other}"
        ] = other == 0

    with _switched_env(FAULT_INJECTION_THROTTLE=str(share), FAULT_INJECTION_SEED=str(world.seed)):
        from common.clients import RETRIES
        from platform_faults import sdk

        tool_lambda = sdk.instrument(world.client("lambda", config=RETRIES))  # the redrive tool's, throttled
    return _faulted_then_redriven(
        world,
        scope,
        orders,
        f"throttling ({share:.0%} of AWS calls)",
        functions,
        {"throttle": str(share), "seed": str(world.seed)},
        must_park=False,
        checks=checks,
        lambda_client=tool_lambda,
    )


def partial_put(world: World, orders: int, rate: float = 0.1) -> list[Row]:
    """PutEvents fails twice `rate` (at most half) of the publisher's entries (FailedEntryCount > 0, each
    failed entry with its ErrorCode, the others delivered). The publisher sends the failed
    ones again, and reports what still failed after its attempts so that the stream retries
    them: every event reaches its consumers once."""
    share = min(0.5, rate * 2)
    scope = world.scope("partial-put", orders)
    since = time.time()

    def checks(row: Row) -> None:
        calls = world.logged([PUBLISHER_NAME], "fault injected: PutEvents entries failed", since)
        failed = sum(record["failed"] for record in calls)
        gave_up = len(world.logged([PUBLISHER_NAME], "event not published", since))
        row.checks[
            f"entries failed by PutEvents: {failed} in {len(calls)} calls, {gave_up} still failed after the "
            "publisher's 3 attempts (the stream retried them); at least 1 failed"
        ] = failed >= 1

    return _faulted_then_redriven(
        world,
        scope,
        orders,
        f"partial PutEvents ({share:.0%} of entries failed)",
        [PUBLISHER_NAME],
        {"partial_put": str(share), "seed": str(world.seed)},
        must_park=False,
        checks=checks,
    )


def timeouts(world: World, orders: int, rate: float = 0.1, seconds: int = 6) -> list[Row]:
    """Half of `rate` of the consumers' and the publisher's invocations time out part-way:
    after the work's effects the function hangs until the runtime stops it at its timeout
    (`seconds` for the scenario; 30 deployed). Lambda retries it: the effects are not repeated,
    and every event is processed once or parked."""
    share = rate / 2
    scope = world.scope("timeouts", orders)
    functions = [*world.consumers(), PUBLISHER_NAME]
    names = [world.outputs.function_name(f) for f in functions]
    deployed = {name: world.lambda_.get_function_configuration(FunctionName=name)["Timeout"] for name in names}
    since, mark = time.time(), world.cloud_log_lines()

    def checks(row: Row) -> None:
        hung = world.logged(functions, "fault injected: hanging until the function's timeout", since)
        stopped = world.cloud_logged("timed out after", mark)
        row.checks[
            f"invocations hung after their effects: {len(hung)}, stopped at the {seconds} s timeout: "
            f"{stopped}; at least 1"
        ] = 1 <= len(hung) <= stopped

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(lambda name: _set_timeout(world, name, seconds), names))
        try:
            return _faulted_then_redriven(
                world,
                scope,
                orders,
                f"timeouts part-way ({share:.0%} of invocations)",
                functions,
                {"rate": str(share), "timeout": "1", "seed": str(world.seed)},
                must_park=False,
                checks=checks,
            )
        finally:
            list(pool.map(lambda name: _set_timeout(world, name, deployed[name]), names))


def _set_timeout(world: World, function_name: str, seconds: int) -> None:
    world.lambda_.update_function_configuration(FunctionName=function_name, Timeout=seconds)
    world.lambda_.get_waiter("function_updated_v2").wait(
        FunctionName=function_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )


def stale(world: World, orders: int, consumer: str = "Audit", max_age: int = 60) -> list[Row]:
    """`consumer` is throttled (its reserved concurrency 0, as when the account's concurrency is
    spent) while a tenth of `orders` flow: Lambda's queue keeps trying its events
    (TooManyRequestsException is not an attempt) until they are older than its maximum event
    age (`max_age`: 60 s, the least AWS allows; an hour deployed), then parks each with
    condition EventAgeExceeded, never run. The other consumers are not held up. The throttle
    lifted and the age restored, the dead letters are redriven: each event processed once."""
    count = max(2, orders // 10)
    function = world.outputs.function_name(consumer)
    deployed = world.lambda_.get_function_event_invoke_config(FunctionName=function, Qualifier="$LATEST")
    kept = {
        k: deployed[k]
        for k in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
        if k in deployed
    }
    world.lambda_.put_function_event_invoke_config(
        FunctionName=function, Qualifier="$LATEST", **{**kept, "MaximumEventAgeInSeconds": max_age}
    )
    world.lambda_.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=0)
    started = time.monotonic()
    try:
        scope = world.scope("stale", count)  # its customer and stock too: every event of the scope is held
        world.place_orders(scope, count)
        settle(world, scope)
        expected = {
            e["eventId"]
            for e in stored_events(world, scope.prefix)
            if consumer in consumers_of(e["eventType"], e["source"])
        }
        deadline = time.monotonic() + max_age + 180
        while True:
            parked = {
                p.event_id: p.reason for p in dead_letters(world) if p.owner == consumer and p.event_id in expected
            }
            if len(parked) == len(expected) or time.monotonic() > deadline:
                break
            time.sleep(3)
    finally:
        world.lambda_.delete_function_concurrency(FunctionName=function)
        world.lambda_.put_function_event_invoke_config(FunctionName=function, Qualifier="$LATEST", **kept)
    first = audit(world, scope)
    first.scenario = f"stale events (past a {max_age} s max age)"
    aged = sum(1 for reason in parked.values() if reason == "EventAgeExceeded")
    first.checks[f"{consumer}'s events parked as EventAgeExceeded, never run: {aged}/{len(expected)}, at least 1"] = (
        aged == len(expected) >= 1
    )
    first.checks[f"parked only after their age: {time.monotonic() - started:.0f} s"] = (
        time.monotonic() - started >= max_age
    )
    _all_completed(world, scope, first)  # the other consumers and the saga went on
    return [first, _redriven(world, scope, must_park=True)]


@contextmanager
def _switched_env(**values: str) -> Iterator[None]:
    """Environment variables set for the length of a `with`: what a function's switches are to
    a client made in this process."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# ---- poison events -----------------------------------------------------------------------------


def poison(world: World, orders: int) -> list[Row]:
    """One event in ten can never succeed (a total that does not add up; an unknown type): each
    is parked by every consumer it reaches, after the retries, while the good orders flow on."""
    scope = world.scope("poison", orders)
    bus = world.outputs["EventBusName"]
    cases = [
        c for c in corpus.bus_cases(bus, scope.prefix) if c.name in ("total that does not add up", "unknown event type")
    ]
    lock = threading.Lock()

    def put_poison(n: int, _order_id: str) -> None:
        if n % 10:
            return
        case = corpus.bus_cases(bus, scope.prefix)[0] if n % 50 else cases[-1]
        entry = case.entry
        response = world.events.put_events(Entries=[entry])
        assert response["FailedEntryCount"] == 0, response
        with lock:
            scope.put_directly.append(
                {"source": entry["Source"], "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
            )

    world.place_orders(scope, orders, after_each=put_poison)
    settle(world, scope)
    row = audit(world, scope)
    row.scenario = "poison events (1 in 10)"
    poisoned = [(d["detail"]["eventId"], d["detail-type"], d["source"]) for d in scope.put_directly]
    right = sum(
        1
        for event_id, event_type, source in poisoned
        if row.parked_by.get(event_id) == sorted(consumers_of(event_type, source))
    )
    row.checks[f"each poison event parked by exactly the consumers it reached: {right}/{len(poisoned)}"] = right == len(
        poisoned
    )
    _all_completed(world, scope, row)
    return [row]


# ---- duplicates ------------------------------------------------------------------------------


def duplicates(world: World, orders: int, copies: int = 1) -> list[Row]:
    """The publisher sends every event 1 + `copies` times: no second email, payment,
    reservation or counter increment."""
    scope = world.scope("duplicates", orders)
    world.switch([PUBLISHER_NAME], duplicates=str(copies))
    try:
        world.place_orders(scope, orders)
        settle(world, scope)
    finally:
        world.switch([PUBLISHER_NAME], duplicates=None)
    row = audit(world, scope)
    row.scenario = f"duplicates (every event {1 + copies} times)"
    _all_completed(world, scope, row)
    return [row]


# ---- reordering ------------------------------------------------------------------------------


def reordering(world: World, orders: int) -> list[Row]:
    """Orders are placed and at once updated while the publisher is paused, a window's worth at
    a time; resumed, it publishes each batch newest first, so consumers see ORDER_UPDATED before
    ORDER_CREATED (and later events of the saga out of order too). The read model must equal
    the events applied in order, and every saga end as it would in order: COMPLETED."""
    scope = world.scope("reordering", orders)
    mapping = _publisher_mapping(world)
    updated: dict[str, int] = {}
    seen_early = 0

    def update(n: int, order_id: str) -> None:
        body = {"items": [{"productId": scope.sku, "quantity": 2, "price": PRICE}], "expectedVersion": 1}
        key = f"{scope.prefix}u-{order_id.replace('-', '')[:16]}"  # a correlation id is at most 64 characters
        answer = world.request("PUT", f"/orders/{order_id}", body, key=key, scope=scope)
        updated[order_id] = answer.status

    world.switch([PUBLISHER_NAME], reorder="1")
    try:
        for start in range(0, orders, world.window):
            world.lambda_.update_event_source_mapping(UUID=mapping, Enabled=False)
            try:
                chunk = world.place_orders(scope, min(world.window, orders - start), after_each=update, paced=False)
                time.sleep(2)
                # nothing published while paused: the backlog goes out in reversed batches
                seen_early += len(world.read_model(chunk))
            finally:
                world.lambda_.update_event_source_mapping(UUID=mapping, Enabled=True)
            settle(world, scope)
        settle(world, scope)
    finally:
        world.switch([PUBLISHER_NAME], reorder=None)
    row = audit(world, scope)
    row.scenario = "reordering (batches newest first)"
    row.checks[f"publisher paused while placing: {seen_early} orders projected early"] = seen_early == 0
    row.checks[f"updates accepted: {sum(1 for s in updated.values() if s == 200)}/{orders}"] = all(
        s == 200 for s in updated.values()
    )

    # the read model must be what the order's events give applied in order
    from eventstore.store import EventStore
    from orders.aggregate import Order

    store = EventStore(world.outputs["EventStoreTableName"], client=world.dynamodb)
    same = 0
    for order_id in scope.orders:
        order = Order.replay(store.load(order_id))
        assert order is not None, order_id
        expected = order.model_dump(mode="json") | {"totalAmount": f"{order.totalAmount:.2f}"}
        shown = world.customer_api(scope)("GET", f"/orders/{order_id}")
        fields = ("status", "version", "items", "totalAmount")
        same += {f: shown.get(f) for f in fields} == {f: expected.get(f) for f in fields}
    row.checks[f"read model = events applied in order: {same}/{orders}"] = same == orders
    ended = sum(1 for o in scope.orders if store.load(o)[-1].eventType == "ORDER_COMPLETED")
    row.checks[f"sagas COMPLETED as in order: {ended}/{orders}"] = ended == orders
    return [row]


def _publisher_mapping(world: World) -> str:
    function = world.outputs.function_name(PUBLISHER_NAME)
    return world.lambda_.list_event_source_mappings(FunctionName=function)["EventSourceMappings"][0]["UUID"]


# ---- concurrency -----------------------------------------------------------------------------


def concurrency(world: World, orders: int, writers: int = 4, hot_writers: int = 32) -> list[Row]:
    """Right after each order is placed, `writers` clients update it at once (and one hot order
    gets `hot_writers`), each retrying on 409 from the version the conflict names, while the
    saga completes the order under them. Versions stay contiguous, every accepted update is in
    the store as sent, every refusal is a 409."""
    scope = world.scope("concurrency", orders)
    answers: list[tuple[str, int, int, dict | None, int]] = []  # order, writer, status, body, quantity
    lock = threading.Lock()

    def write(order_id: str, writer: int, attempts: int = 3) -> None:
        expected = 1
        for attempt in range(attempts):
            quantity = 1 + writer  # each writer's lines are its own, to find them in the store
            body = {
                "items": [{"productId": scope.sku, "quantity": quantity, "price": PRICE}],
                "expectedVersion": expected,
            }
            answer = world.request(
                "PUT",
                f"/orders/{order_id}",
                body,
                scope=scope,
                key=f"{scope.prefix}{order_id.replace('-', '')[:16]}-w{writer}-a{attempt}",
            )
            with lock:
                answers.append((order_id, writer, answer.status, answer.body, quantity))
            if answer.status != 409 or "currentVersion" not in (answer.body or {}):
                return
            expected = answer.body["currentVersion"]

    def race(order_id: str, count: int) -> None:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda w: write(order_id, w), range(count)))

    world.place_orders(scope, orders, after_each=lambda _n, order_id: race(order_id, writers))
    [hot] = world.place_orders(scope, 1)
    race(hot, hot_writers)
    settle(world, scope)
    row = audit(world, scope)
    row.scenario = f"concurrency ({writers} writers per order, {hot_writers} on one)"

    events = stored_events(world, scope.prefix)
    by_order: dict[str, list[dict]] = {}
    for event in events:
        if event["aggregateId"] in scope.orders:
            by_order.setdefault(event["aggregateId"], []).append(event)
    gaps = sum(1 for evs in by_order.values() if sorted(e["version"] for e in evs) != list(range(1, len(evs) + 1)))
    row.checks[f"versions contiguous: {len(by_order) - gaps}/{len(by_order)} orders"] = gaps == 0
    accepted = [a for a in answers if a[2] == 200]
    stored_updates = {(e["aggregateId"], e["version"]): e for e in events if e["eventType"] == "ORDER_UPDATED"}
    kept = 0
    for order_id, _w, _s, body, quantity in accepted:
        if body is None:  # a 200 always has one
            continue
        update = stored_updates.get((order_id, body["version"]))
        if update is not None and update["detail"]["payload"]["items"][0]["quantity"] == quantity:
            kept += 1
    row.checks[f"accepted updates in the store as sent: {kept}/{len(accepted)}"] = (
        kept == len(accepted) == len(stored_updates)
    )
    refused = [a for a in answers if a[2] != 200]
    row.checks[f"refusals answered 409: {sum(1 for a in refused if a[2] == 409)}/{len(refused)}"] = all(
        a[2] == 409 for a in refused
    )
    live = world.read_model(scope.orders)
    current = sum(1 for o, evs in by_order.items() if int(live.get(o, {}).get("version", {}).get("N", 0)) == len(evs))
    row.checks[f"read model at the last version: {current}/{len(by_order)}"] = current == len(by_order)
    return [row]


# ---- restart ---------------------------------------------------------------------------------


def restart(world: World, orders: int) -> list[Row]:
    """Halfway through the orders the local cloud is stopped and started again. Clients resend
    what went unanswered with the same Idempotency-Key; every acknowledged order is in the store
    and completes, and every event is accounted for."""
    scope = world.scope("restart", orders)
    halfway = threading.Event()
    acknowledged = []

    def note(n: int, order_id: str) -> None:
        acknowledged.append(order_id)
        if len(acknowledged) == orders // 2:
            halfway.set()

    def restart_halfway() -> None:
        halfway.wait()
        world.restart()

    restarter = threading.Thread(target=restart_halfway)
    restarter.start()
    world.place_orders(scope, orders, after_each=note)
    restarter.join()
    settle(world, scope)
    row = audit(world, scope)
    row.scenario = "restart of the local cloud mid-run"
    stored_orders = {e["aggregateId"] for e in stored_events(world, scope.prefix) if e["eventType"] == "ORDER_CREATED"}
    kept = sum(1 for order_id in acknowledged if order_id in stored_orders)
    row.checks[f"acknowledged orders in the store: {kept}/{len(acknowledged)}"] = kept == len(acknowledged)
    row.checks[f"one order per Idempotency-Key: {len(stored_orders)} stored"] = len(stored_orders) == orders
    _all_completed(world, scope, row)
    return [row]


# ---- bad input -------------------------------------------------------------------------------


def bad_input(world: World, orders: int) -> list[Row]:
    """The corpus (chaos/corpus.py): every API body refused with a 4xx naming the field, every
    bus entry and stream record parked with its reason, nothing written, and the platform still
    takes a good order afterwards."""
    started = time.monotonic()
    scope = world.scope("bad-input", 1)
    [order_id] = world.place_orders(scope, 1)
    settle(world, scope)
    row = Row("bad input corpus")
    counts = _counts(world)
    surprises: list[str] = []

    api_cases = corpus.api_cases(scope.sku, scope.customer, order_id)
    for n, case in enumerate(api_cases):  # as the scope's customer (a staff route: signed with SigV4)
        answer = world.customer_api(scope).send(
            case.method, case.path, case.body, raw=case.raw, headers={"X-Correlation-Id": f"{scope.prefix}api-{n}"}
        )
        named = not case.field or case.field in json.dumps(answer.body)
        if answer.status in case.statuses and named:
            row.processed += 1
        else:
            row.lost += 1
            surprises.append(f"API {case.name}: {answer.status} {str(answer.body)[:160]}")

    bus_cases = corpus.bus_cases(world.outputs["EventBusName"], scope.prefix)
    expected_parked: list[tuple[corpus.BusCase, str, set[str]]] = []
    for bus_case in bus_cases:
        response = world.events.put_events(Entries=[bus_case.entry])
        if response["FailedEntryCount"]:
            row.processed += 1  # refused at the door, with its error code
            continue
        try:
            event_id = json.loads(bus_case.entry["Detail"]).get("eventId", "?")
        except AttributeError:
            event_id = "?"
        expected_parked.append(
            (bus_case, event_id, set(consumers_of(bus_case.entry["DetailType"], bus_case.entry["Source"])))
        )

    stream_cases = corpus.stream_cases(scope.prefix)
    for stream_case in stream_cases:
        world.dynamodb.put_item(TableName=world.outputs["EventStoreTableName"], Item=stream_case.item)

    deadline = time.monotonic() + 300
    while True:
        parked = dead_letters(world)
        owners: dict[str, dict[str, str]] = {}
        for p in parked:
            owners.setdefault(p.event_id, {})[p.owner] = p.reason
        bus_ok = [
            c
            for c, event_id, routed in expected_parked
            if routed <= set(owners.get(event_id, {})) and all(owners[event_id].values())
        ]
        stream_ok = [
            c
            for c in stream_cases
            if any(
                c.reason in reason
                for reason in owners.get(
                    f"item:aggregateId={c.item['aggregateId']['S']},version={c.item['version']['N']}", {}
                ).values()
            )
        ]
        if (len(bus_ok) == len(expected_parked) and len(stream_ok) == len(stream_cases)) or time.monotonic() > deadline:
            break
        time.sleep(3)
    row.parked = len(bus_ok) + len(stream_ok)
    row.lost += len(expected_parked) - len(bus_ok) + len(stream_cases) - len(stream_ok)
    surprises += [f"bus {c.name}: not parked by all of {sorted(r)}" for c, _e, r in expected_parked if c not in bus_ok]
    surprises += [f"stream {c.name}: not parked with '{c.reason}'" for c in stream_cases if c not in stream_ok]
    row.events = len(api_cases) + len(bus_cases) + len(stream_cases)

    after = _counts(world)
    written = {table: after[table] - counts[table] for table in counts}
    written["EventStore"] -= len(stream_cases)  # the corpus's own stream records
    row.duplicated = sum(abs(v) for v in written.values())  # partial writes
    row.checks[f"nothing written by bad input: {written}"] = row.duplicated == 0
    following = world.place_orders(scope, 1)
    settle(world, scope)
    _all_completed(world, scope, row, following)
    world.wait_until_counted()  # the order's last events, before the next scenario counts its own
    row.checks[f"inputs: {len(api_cases)} API, {len(bus_cases)} bus, {len(stream_cases)} stream"] = row.events >= 50
    row.details = surprises
    row.seconds = round(time.monotonic() - started, 1)
    return [row]


def _counts(world: World) -> dict[str, int]:
    counts = {}
    for table in ("EventStore", "Orders", "UserEmails", "Inventory"):
        pages = world.dynamodb.get_paginator("scan").paginate(
            TableName=world.outputs[f"{table}TableName"], Select="COUNT"
        )
        counts[table] = sum(page["Count"] for page in pages)
    return counts


# ---- the API fuzzed ------------------------------------------------------------------------------


def fuzzing(world: World, orders: int) -> list[Row]:
    """Requests generated from docs/openapi.json (chaos/fuzz.py), a tenth of `orders` for each
    operation (at least 2, at most 100), as a signed-in customer on the customer routes and
    signed with SigV4 on the staff ones: none answers 5xx, and no refused write leaves an event."""
    from chaos.fuzz import Doors, fuzz

    started = time.monotonic()
    examples = min(100, max(2, orders // 10))
    fuzzer = world.customers.sign_up(f"chaos-{world.run_id}-fuzzing@example.com")  # whose orders it places
    doors = Doors(world.outputs.api_url, world.cloud.aws_env(), fuzzer.id_token)
    report = fuzz(
        world.outputs.api_url,
        doors,
        world.dynamodb,
        world.outputs["EventStoreTableName"],
        examples=examples,
        seed=world.seed,
        log=world.log,
    )
    world.wait_until_counted()  # the accepted requests' events, before the next scenario counts its own
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(report.by_status.items()))
    row = Row(
        scenario=f"API fuzzing ({report.cases} requests, seed {report.seed})",
        events=report.cases,
        processed=report.cases - len(report.server_errors),
    )
    row.duplicated = len(report.partial_writes)
    row.checks[f"answers: {statuses}; at least one refused and one accepted"] = any(
        400 <= status < 500 for status in report.by_status
    ) and any(200 <= status < 300 for status in report.by_status)
    row.checks[f"answered 5xx: {len(report.server_errors)}"] = not report.server_errors
    row.checks[
        f"refused writes that left an event: {len(report.partial_writes)} of {report.refused_writes} (at least 1)"
    ] = not report.partial_writes and report.refused_writes > 0
    row.details = report.server_errors + report.partial_writes
    row.seconds = round(time.monotonic() - started, 1)
    return [row]


SCENARIOS: dict[str, Scenario] = {
    "transient": transient,
    "poison": poison,
    "duplicates": duplicates,
    "reordering": reordering,
    "concurrency": concurrency,
    "restart": restart,
    "bad-input": bad_input,
    "fuzzing": fuzzing,
    "throttling": throttling,
    "partial-put": partial_put,
    "timeouts": timeouts,
    "stale": stale,
}
