"""The platform under test: a local cloud of its own with both stacks deployed, the clients
to inspect it, and the moves a scenario makes (switches, orders, waits, a restart)."""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3

from analytics.counters import DailyCounters, lane_of
from infra.consumers import CONSUMERS
from infra.consumers import PUBLISHER as PUBLISHER_SPEC
from localcloud.api import Answer, Api
from localcloud.cloud import LocalCloud, Outputs, free_port
from localcloud.customers import Customer, Customers
from ops.fault import set_switches
from orders.aggregate import OrderStatus

PUBLISHER_NAME = PUBLISHER_SPEC.name
# A customer's ID token lasts an hour (infra/constructs/customer_pool.py), and a 1,000-order
# scenario may take longer: a client signs in again this long before it expires.
TOKEN_MARGIN_SECONDS = 300
PRICE = "9.99"
SETTLED = (OrderStatus.COMPLETED, OrderStatus.CANCELLED)  # an order in either has nothing left to do


@dataclass
class Scope:
    """What one scenario put in: every event it caused carries a correlation id with `prefix`."""

    name: str
    prefix: str
    email: str
    sku: str
    stock: int
    customer: str = ""  # the signed-in customer (their ID token's subject): the scenario's orders are theirs
    signed_in: Customer | None = None  # their sign-in, whose ID token the scope's customer requests carry
    orders: list[str] = field(default_factory=list)  # acknowledged order ids
    put_directly: list[dict] = field(default_factory=list)  # envelopes put on the bus by hand
    stream_items: list[dict] = field(default_factory=list)  # keys of items written to the store by hand
    day_before: dict[str, Any] = field(default_factory=dict)  # the day's counters before the run
    first_day: str = ""  # the UTC day the scope started in: its events are counted from that day on
    notes: list[str] = field(default_factory=list)


class World:
    def __init__(
        self, state_dir: Path, *, clients: int = 8, window: int = 24, seed: int = 0, log: Callable[[str], None] = print
    ):
        state_dir = Path(os.environ.get("CHAOS_STATE_DIR") or state_dir)  # keep it to read the cloud's log
        self.cloud = LocalCloud(port=free_port(), state_dir=state_dir)
        self.clients = clients
        self.window = window
        self.log = log
        # Everything random in a run follows from its seed: the ids (so the same orders, and the
        # same events, in a replay), the faults the functions draw, the fuzzer's requests.
        self.seed = seed
        self.run_id = f"{seed:06x}"[-6:]
        self.emails: dict[str, dict] = {}  # SES messages seen, by id (the emulator forgets them on restart)
        self.statuses: Counter = Counter()  # every API answer the scenarios' clients got, by status
        self._outputs: Outputs | None = None

    @property
    def outputs(self) -> Outputs:
        """The deployed stacks' outputs (the world is entered: deployed)."""
        if self._outputs is None:
            raise RuntimeError("the world is not deployed yet: use it as `with World(...) as world:`")
        return self._outputs

    # ---- lifecycle -----------------------------------------------------------------------

    def __enter__(self) -> World:
        self.cloud.start()
        self.log(f"local cloud on {self.cloud.endpoint}; deploying both stacks ...")
        self._outputs = self.cloud.deploy(quiet=True)
        self._connect()
        return self

    def __exit__(self, *exc) -> None:
        self.cloud.stop()

    def _connect(self) -> None:
        env = self.cloud.aws_env()
        os.environ.update(env)  # this process talks to this cloud only: the tools' own clients too
        self.api = Api(self.outputs.api_url, env)  # staff routes (SigV4); customers' requests: customer_api
        self.customers = Customers(self.outputs, env, self.cloud.endpoint)
        kwargs = {
            "endpoint_url": self.cloud.endpoint,
            "region_name": env["AWS_REGION"],
            "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        }
        self.client = lambda service, **extra: boto3.client(service, **kwargs, **extra)
        self.dynamodb, self.sqs, self.lambda_, self.events, self.streams = (
            self.client(s) for s in ("dynamodb", "sqs", "lambda", "events", "dynamodbstreams")
        )

    def restart(self, down_seconds: float = 2.0) -> None:
        """Stop the local cloud (state saved on the way out, as `make down` does) and start it."""
        self.collect_emails()
        began = time.time()
        self.cloud.stop(timeout=600)  # saving a large state takes a while (89 s in a 1,000-order run)
        saved = {p.stem for p in self.cloud.saved_state_dir.glob("*.json") if p.stat().st_mtime >= began}
        unsaved = [s for s in ("dynamodb", "sqs", "lambda", "eventbridge", "ses", "cloudwatch_logs") if s not in saved]
        self.log(
            f"  local cloud stopped in {time.time() - began:.0f}s, {len(saved)} services' state saved"
            + (f"; NOT saved: {', '.join(unsaved)}" if unsaved else "")
        )
        time.sleep(down_seconds)
        began = time.time()
        self.cloud.start(timeout=600)  # and loading it again
        self.log(f"  local cloud started again in {time.time() - began:.0f}s")
        self._connect()

    # ---- switches ---------------------------------------------------------------------------

    def switch(self, functions: list[str], **switches: str | None) -> None:
        """Set fault-injection switches (FAULT_INJECTION_<NAME>) on these functions."""
        values = {f"FAULT_INJECTION_{name.upper()}": value for name, value in switches.items()}
        with ThreadPoolExecutor(max(1, len(functions))) as pool:  # each update waits for its function to be ready
            list(
                pool.map(lambda f: set_switches(self.outputs.function_name(f), values, client=self.lambda_), functions)
            )

    @staticmethod
    def consumers() -> list[str]:
        return [spec.name for spec in CONSUMERS]

    # ---- scopes and orders ------------------------------------------------------------------

    def scope(self, name: str, orders: int) -> Scope:
        prefix = f"chaos-{self.run_id}-{name}-"
        scope = Scope(
            name,
            prefix,
            email=f"{prefix}customer@example.com",
            sku=f"CHAOS-{self.run_id}-{name}".upper(),
            stock=orders * 2,
        )
        scope.first_day = today()
        scope.day_before = self.counters_of(scope.first_day)  # before the scope's first event
        self.request("PUT", f"/inventory/{scope.sku}", {"quantity": scope.stock}, key=f"{prefix}stock")
        self.request("PUT", f"/inventory/{scope.sku}/prices", {"prices": {"EUR": PRICE}}, key=f"{prefix}price")
        # The scope's own customer, signed up to the user pool with the scope's address: the
        # platform knows them by their token's subject, and their profile's email is the token's.
        scope.signed_in = self.customers.sign_up(scope.email)
        scope.customer = scope.signed_in.id
        answer = self.request("POST", "/users", {"name": "Chaos Customer"}, key=f"{prefix}user", scope=scope)
        if answer.status != 201 or answer.body["userId"] != scope.customer:
            raise RuntimeError(f"registering {scope.name}'s customer answered {answer.status}: {answer.body}")
        return scope

    def customer_api(self, scope: Scope) -> Api:
        """The API as the scope's customer calls it: their ID token on the customer routes (signed
        in again when it is about to expire), SigV4 on the staff ones."""
        if scope.signed_in is None:
            raise ValueError(f"scope {scope.name} has no customer")
        if scope.signed_in.claims["exp"] - time.time() < TOKEN_MARGIN_SECONDS:
            scope.signed_in = self.customers.sign_in(scope.signed_in.email, scope.signed_in.password)
        return self.api.as_customer(scope.signed_in.id_token)

    def request(
        self, method: str, path: str, body: Any = None, *, key: str, scope: Scope | None = None, patience: float = 180
    ) -> Answer:
        """A command as a careful client sends it (as `scope`'s customer, on a customer route): its
        correlation id and Idempotency-Key are `key`; a connection error, a 5xx or an idempotent
        request still in progress is sent again, with the same key, until it is answered (or
        patience runs out). A customer's correlation id comes back tagged as theirs (the answer's
        X-Correlation-Id, the one the events carry): it still begins with `key`."""
        headers = {"X-Correlation-Id": key, "Idempotency-Key": key}
        deadline = time.monotonic() + patience
        answer: Answer | None = None
        while True:
            try:
                api = self.customer_api(scope) if scope else self.api
                answer = api.send(method, path, body, headers=headers)
                self.statuses[answer.status] += 1
                retry = (
                    answer.status >= 500
                    or answer.status == 429
                    or (answer.status == 409 and "in progress" in json.dumps(answer.body))
                )
            except OSError:
                answer, retry = None, True
            if not retry and answer is not None:
                return answer
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {path} unanswered after {patience:.0f}s (last: {answer})")
            time.sleep(0.5)

    def place_orders(
        self,
        scope: Scope,
        count: int,
        *,
        quantity: int = 1,
        after_each: Callable[[int, str], None] | None = None,
        paced: bool = True,
    ) -> list[str]:
        """`count` orders of one unit each, from `self.clients` concurrent clients. Paced: a
        client waits while `self.window` orders are in flight (placed in the last minute and
        not yet COMPLETED or CANCELLED), so the load is what the platform keeps up with; an
        open-loop burst would only measure the saga's timeout cancelling orders stuck in a
        queue."""
        first = len(scope.orders)  # each order its own key, across calls
        in_flight = InFlight(self, self.window if paced else 0)

        def place(n: int) -> str:
            in_flight.wait_for_room()
            body = {"items": [{"productId": scope.sku, "quantity": quantity, "price": PRICE}]}
            answer = self.request("POST", "/orders", body, key=f"{scope.prefix}{first + n}", scope=scope)
            if answer.status != 201:
                raise RuntimeError(f"order {n} answered {answer.status}: {answer.body}")
            in_flight.add(answer.body["orderId"])
            if (first + n + 1) % 100 == 0:
                self.log(f"  {scope.name}: {first + n + 1} orders placed")
            if after_each:
                after_each(n, answer.body["orderId"])
            return answer.body["orderId"]

        try:
            with ThreadPoolExecutor(self.clients) as pool:
                placed = list(pool.map(place, range(count)))  # n counts from 0 in each call: after_each's view
        finally:
            in_flight.close()
        scope.orders += placed
        return placed

    # ---- what the platform shows ------------------------------------------------------------

    def read_model(self, order_ids: list[str], table: str | None = None) -> dict[str, dict]:
        items = self.batch_get(table or self.outputs["OrdersTableName"], "orderId", order_ids)
        return {item["orderId"]["S"]: item for item in items}

    def batch_get(self, table: str, key: str, values: list[str], attributes: tuple[str, ...] = ()) -> list[dict]:
        """The items of these keys (strongly consistent; with `attributes`, only those and the key)."""
        found: list[dict] = []
        values = list(dict.fromkeys(values))
        projection = {}
        if attributes:
            names = {f"#a{i}": name for i, name in enumerate((key, *attributes))}
            projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
        for start in range(0, len(values), 100):
            request = {
                table: {
                    "Keys": [{key: {"S": v}} for v in values[start : start + 100]],
                    "ConsistentRead": True,
                    **projection,
                }
            }
            while request:
                response = self.dynamodb.batch_get_item(RequestItems=request)
                found += response["Responses"].get(table, [])
                request = response.get("UnprocessedKeys") or {}
        return found

    def wait_until_counted(self, *, timeout: float = 300) -> None:
        """Until the cloud has nothing in flight and the day's analytics counters have stopped
        moving: what a scenario set going has been counted (the fold's batch included), so that
        the next scenario's counter check (the day moved by exactly its own events) sees only its
        own."""
        self.cloud.wait_until_idle(lambda: self.day_counters().get("events", 0), timeout=timeout)

    def day_counters(self) -> dict[str, Any]:
        return self.counters_of(today())

    def counters_since(self, first_day: str) -> dict[str, Any]:
        """The counters of every UTC day from `first_day` to today, added up: a scope that runs
        past midnight has its events counted in the day of each (the audit once compared the
        first day's counters before with the next day's after, and found events lost)."""
        return added_up(self.counters_of, first_day, today())

    def counters_of(self, day: str) -> dict[str, Any]:
        return DailyCounters(self.outputs["AnalyticsTableName"], client=self.dynamodb).day(day)

    def analytics_markers(self, event_ids: list[str]) -> set[str]:
        """The events Analytics has counted (each marked once, in its lane)."""
        table, found = self.outputs["AnalyticsEventsTableName"], set()
        keys = [{"lane": {"S": lane_of(i)}, "eventId": {"S": i}} for i in dict.fromkeys(event_ids)]
        for start in range(0, len(keys), 100):
            request = {
                table: {"Keys": keys[start : start + 100], "ConsistentRead": True, "ProjectionExpression": "eventId"}
            }
            while request:
                response = self.dynamodb.batch_get_item(RequestItems=request)
                found |= {item["eventId"]["S"] for item in response["Responses"].get(table, [])}
                request = response.get("UnprocessedKeys") or {}
        return found

    def logged(self, functions: list[str], message: str, since: float) -> list[dict]:
        """The JSON log records with this message that these functions wrote since `since` (epoch
        seconds): what a fault switch says it did, each time it did it."""
        return [
            record | {"function": function}
            for function in functions
            for record in self.log_records(function, f'"{message}"', since)
            if record.get("message") == message
        ]

    def log_records(self, function: str, pattern: str, since: float) -> list[dict]:
        """The JSON log records of a function since `since` (epoch seconds) that match a
        CloudWatch Logs filter pattern."""
        found = []
        pages = (
            self.client("logs")
            .get_paginator("filter_log_events")
            .paginate(
                logGroupName=self.outputs[f"{function}LogGroupName"], startTime=int(since * 1000), filterPattern=pattern
            )
        )
        for page in pages:
            for event in page["events"]:
                try:
                    record = json.loads(event["message"])
                except ValueError:
                    continue
                if isinstance(record, dict):
                    found.append(record)
        return found

    def cloud_log_lines(self) -> int:
        """How many lines the local cloud's own log has: a mark to read what it logs next."""
        with open(self.cloud.log_file, "rb") as log:
            return sum(1 for _ in log)

    def cloud_logged(self, text: str, after_line: int) -> int:
        """How many lines of the local cloud's log after `after_line` contain `text`."""
        with open(self.cloud.log_file, "rb") as log:
            return sum(1 for n, line in enumerate(log) if n >= after_line and text.encode() in line)

    def collect_emails(self) -> dict[str, dict]:
        with urllib.request.urlopen(f"{self.cloud.endpoint}/_ministack/ses/messages", timeout=30) as response:
            data = json.loads(response.read())
        messages = data.get("messages", [])
        if isinstance(messages, dict):  # grouped by account
            messages = [m for group in messages.values() for m in group]
        for message in messages:
            self.emails[message.get("MessageId") or message.get("Id")] = message
        return self.emails


class InFlight:
    """The orders placed and not yet settled, watched from a thread of its own."""

    STALE_AFTER = 60.0  # an order stuck longer (a parked event) stops counting: the saga's timeout has it

    def __init__(self, world: World, window: int):
        self._world, self._window = world, window
        self._placed: dict[str, float] = {}
        self._room = threading.Condition()
        self._closed = threading.Event()
        if window:
            threading.Thread(target=self._watch, daemon=True).start()

    def add(self, order_id: str) -> None:
        with self._room:
            self._placed[order_id] = time.monotonic()

    def wait_for_room(self) -> None:
        if not self._window:
            return
        with self._room:
            self._room.wait_for(lambda: len(self._placed) < self._window or self._closed.is_set())

    def close(self) -> None:
        self._closed.set()
        with self._room:
            self._room.notify_all()

    def _watch(self) -> None:
        while not self._closed.wait(1.0):
            with self._room:
                watched = list(self._placed)
            try:
                states = self._world.read_model(watched) if watched else {}
            except Exception:
                continue
            now = time.monotonic()
            with self._room:
                for order_id in watched:
                    status = states.get(order_id, {}).get("status", {}).get("S")
                    if status in SETTLED or now - self._placed[order_id] > self.STALE_AFTER:
                        self._placed.pop(order_id, None)
                self._room.notify_all()


def today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def added_up(counters_of: Callable[[str], dict[str, Any]], first_day: str, last_day: str) -> dict[str, Any]:
    """Each day's counters from `first_day` to `last_day`, added up: the events, and each
    currency's money."""
    events = 0
    money: dict[str, dict[str, str]] = {}
    day = date.fromisoformat(first_day)
    while day <= date.fromisoformat(last_day):
        counters = counters_of(day.isoformat())
        events += counters.get("events", 0)
        for code, amounts in counters.get("byCurrency", {}).items():
            mine = money.setdefault(code, {})
            for name, value in amounts.items():
                mine[name] = str(Decimal(mine.get(name, "0")) + Decimal(value))
        day += timedelta(days=1)
    return {"events": events, "byCurrency": money}
