"""The tables as infra/tables.py declares them, created in moto for handler tests, and every
function's environment naming them, from each handler's Settings."""

from __future__ import annotations

import copy
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, wraps

import boto3
from moto import mock_aws

from infra.tables import TABLES


def name_of(key: str) -> str:
    """The test's name of a table, by its key in infra/tables.py."""
    return f"test-{key.replace('_', '-')}"


EVENT_STORE = name_of("event_store")
ORDERS = name_of("orders")
IDEMPOTENCY = name_of("idempotency")
USER_EMAILS = name_of("user_emails")
INVENTORY = name_of("inventory")
EMAIL_LOG = name_of("email_log")
PAYMENT_CALLS = name_of("payment_calls")
CARD_NETWORK = name_of("card_network")
ANALYTICS = name_of("analytics")
ANALYTICS_EVENTS = name_of("analytics_events")
AUDIT = name_of("audit")
SENDER = "orders@test.example.com"
BUS = "test-bus"
APP_CLIENT = "test-app-client"  # the customers' user-pool app client, the audience of their ID tokens


def create_tables() -> None:
    """The tables of infra/tables.py, in this moto. moto's CreateTable makes them the first time
    in a process; after that, each new moto gets copies of the tables it made then, as they were
    (0.04 CPU-seconds a test under coverage, 300 and more tests: tests/unit/test_moto_session.py
    holds them equal). The copies are of the same requests in the same region only: a test that
    declares a table of its own gets it made."""
    from moto.dynamodb.models import dynamodb_backends

    client = boto3.client("dynamodb")
    region, requests = client.meta.region_name, [spec.create_table(name_of(spec.key)) for spec in TABLES.values()]
    key = json.dumps([region, requests], sort_keys=True, default=str)
    if key in _tables_made and not (backend := dynamodb_backends[_tables_made[key][0]][region]).tables:
        backend.tables = copy.deepcopy(_tables_made[key][1])
    else:
        arns = [client.create_table(**request)["TableDescription"]["TableArn"] for request in requests]
        account = arns[0].split(":")[4]  # moto's account for these credentials
        made = dynamodb_backends[account][region].tables
        _tables_made[key] = (account, copy.deepcopy({r["TableName"]: made[r["TableName"]] for r in requests}))
    boto3.client("ses").verify_email_identity(EmailAddress=SENDER)


_tables_made: dict[str, tuple[str, dict]] = {}  # by region and requests: moto's account, the tables first made


def create_analytics_events(name: str) -> None:
    boto3.client("dynamodb").create_table(**TABLES["analytics_events"].create_table(name))


def environment(bus: str = BUS) -> dict[str, str]:
    """Every function's settings as the stacks would set them (infra/stateless_stack.py), for
    the tables above, the bus and the sender. A function's own dead-letter queue is one no test
    created: a test that parks gives it one."""
    from common.settings import TABLE_SUFFIX, Bus, CustomersAppClient, FromStage, OwnDeadLetters, Sender, Table
    from infra import consumers as declared

    values: dict[str, str] = {}
    for spec in {spec.name: spec for spec in (*declared.FUNCTIONS, *declared.CONSUMERS)}.values():
        settings = spec.settings
        for field, use in settings.uses().items():
            match use:
                case Table():
                    values[settings.variable(field)] = name_of(field.removesuffix(TABLE_SUFFIX))
                case Bus():
                    values[settings.variable(field)] = bus
                case Sender():
                    values[settings.variable(field)] = SENDER
                case CustomersAppClient():
                    values[settings.variable(field)] = APP_CLIENT
                case OwnDeadLetters():
                    values[settings.variable(field)] = (
                        f"https://sqs.us-east-1.amazonaws.com/123456789012/{spec.name}-none"
                    )
                case FromStage():
                    from infra.config import StageConfig

                    values[settings.variable(field)] = str(getattr(StageConfig.for_stage("dev"), field))
    return values


def stream_records(table_name: str = EVENT_STORE) -> list[dict]:
    """The table's stream as a Lambda event's Records, read from moto's DynamoDB Streams."""
    streams = boto3.client("dynamodbstreams")
    arn = boto3.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    records = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records.extend(streams.get_records(ShardIterator=iterator)["Records"])
    return records


@contextmanager
def moto() -> Iterator[None]:
    """moto's in-process AWS, in a new container: the clients, settings and caches the
    platform's modules kept from an earlier test are forgotten when it starts and when it ends,
    so that no test's client outlives its moto into the next test (to call AWS itself).

    Its boto3 default session is the suite's own, made once: moto would make a new one on every
    start, so each test's first client of each service loaded its model, endpoint rules and
    paginators from disk again, two thirds of a handler test's setup (`create_tables`' two
    clients alone, 0.34 of its 0.5 s under cProfile). Made here, after moto is imported, it
    carries moto's hook, and the fake credentials it finds first; a session another test set
    (the benchmark's server, a fault test's) is put back when this one ends and never used in it."""
    new_container()
    kept = boto3.DEFAULT_SESSION
    try:
        with mock_aws(config={"core": {"reset_boto3_session": False}}), rollback_by_item(), moto_untraced():
            boto3.DEFAULT_SESSION = _session()
            yield
    finally:
        boto3.DEFAULT_SESSION = kept
        new_container()


@cache
def _session() -> boto3.Session:
    return boto3.Session()


# moto's TransactWriteItems backs up every table it writes to (a deep copy of all the table's items
# and stream records) before applying any action, once for each action on it, to put it back if
# one fails: each transaction costs as much as the tables hold, so a test that writes a hundred
# products copies the event store a hundred times over (tests/unit/test_moto_transactions.py).
# The suite's moto backs up only what a transaction can change, the items its actions name and
# the length of each stream, and puts those back instead; moto's own copies are the tables
# themselves (what moto.dynamodb.models sees as its `copy` module), so its rollback changes
# nothing.
_transaction = threading.local()


class _TablesUncopied:
    def __getattr__(self, name: str):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        from moto.dynamodb.models.table import Table

        if getattr(_transaction, "active", False) and memo is None and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


@contextmanager
def rollback_by_item() -> Iterator[None]:
    """moto's TransactWriteItems backing up the items its actions name, not whole tables (above):
    the same items and stream records after a transaction, applied or cancelled. Like moto's
    own, not for a table another thread writes to during the transaction: its rollback would
    take that write's stream record away (moto's takes the write too)."""
    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    transact, module_copy = backend.transact_write_items, models.copy

    @wraps(transact)
    def transact_write_items(self, transact_items):
        saved: list[tuple] = []
        streams: dict[int, tuple] = {}
        for action in transact_items:
            for operation in action.values():
                try:  # by its name or its ARN, as moto finds it
                    table = self.get_table(operation["TableName"])
                    hash_key, range_key = self.get_keys_value(table, operation.get("Item") or operation.get("Key", {}))
                except Exception:
                    continue  # moto answers what is wrong with it
                saved.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
                if table.stream_shard is not None:
                    streams.setdefault(id(table), (table.stream_shard, len(table.stream_shard.items)))
        _transaction.active = True
        try:
            return transact(self, transact_items)
        except Exception:
            for table, hash_key, range_key, item in reversed(saved):
                _put_back(table, hash_key, range_key, item)
            for shard, length in streams.values():
                del shard.items[length:]
            raise
        finally:
            _transaction.active = False

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    models.copy = _TablesUncopied()  # type: ignore[assignment]
    try:
        yield
    finally:
        backend.transact_write_items = transact  # type: ignore[method-assign]
        models.copy = module_copy


def _put_back(table, hash_key, range_key, item) -> None:
    """An item as it was before a transaction (None: there was none), where moto keeps it."""
    if range_key is None:
        table.items.pop(hash_key, None)
        if item is not None:
            table.items[hash_key] = item
        return
    table.items[hash_key].pop(range_key, None)
    if item is not None:
        table.items[hash_key][range_key] = item


@contextmanager
def moto_untraced() -> Iterator[None]:
    """moto's answers and boto3's new clients, run with the tracer off: coverage's tracer (pytest
    --cov) is called on every line Python runs, moto's and botocore's too, though it records only
    lambdas/ and infra/, and it made the handler tests 1.7 times as slow (`pytest tests/unit
    tests/handlers tests/properties`: 76 CPU-seconds without it, 129 with). Neither calls the
    platform's code, so what coverage records is the same (tests/unit/test_moto_untraced.py)."""
    from botocore.session import Session
    from moto.core.botocore_stubber import BotocoreStubber

    answer, create_client = BotocoreStubber.__call__, Session.create_client
    BotocoreStubber.__call__ = untraced(answer)  # type: ignore[method-assign]
    Session.create_client = untraced(create_client)
    try:
        yield
    finally:
        BotocoreStubber.__call__ = answer  # type: ignore[method-assign]
        Session.create_client = create_client


def untraced(function):
    """`function` run with this thread's trace function off, then put back: coverage's tracer
    takes up the frames it was tracing again (it is its own frames' f_trace, for this)."""

    @wraps(function)
    def call(*args, **kwargs):
        trace = sys.gettrace()
        if trace is None:
            return function(*args, **kwargs)
        sys.settrace(None)
        try:
            return function(*args, **kwargs)
        finally:
            sys.settrace(trace)

    return call


def new_container() -> None:
    """What a new execution environment starts without: the process's shared clients (X-Ray's
    too), the settings read, each function module's cached clients and its consumer runtime's
    state."""
    from functools import _lru_cache_wrapper
    from importlib import import_module

    from common import clients, tracing
    from common.settings import forget_read_settings
    from infra.consumers import FUNCTIONS

    clients.client.cache_clear()
    tracing.xray.cache_clear()
    forget_read_settings()
    for spec in FUNCTIONS:
        module = import_module(spec.handler.rpartition(".")[0])
        for value in vars(module).values():
            if isinstance(value, _lru_cache_wrapper):
                value.cache_clear()
        runtime = getattr(getattr(module, "handler", None), "consumer", None)
        if runtime is not None:
            runtime.__dict__.pop("_once", None)


def item_count(table_name: str) -> int:
    return boto3.client("dynamodb").scan(TableName=table_name, Select="COUNT")["Count"]


def send_only_what_was_not_answered(monkeypatch) -> None:
    """moto answers every request from the SDK's before-send hook, even one that a fault hook
    (fault_injection/python/platform_faults/sdk.py) already answered: it would write a throttled PutItem that AWS
    never received. Let moto leave the requests the faults answered (they carry a marker
    header); tests/handlers/test_faults.py shows the difference without this."""
    from moto.core.botocore_stubber import BotocoreStubber

    from platform_faults.sdk import INJECTED

    answer = BotocoreStubber.__call__

    def unless_answered(self, event_name, request, **kwargs):
        if INJECTED in request.headers:
            return None
        return answer(self, event_name, request, **kwargs)

    monkeypatch.setattr(BotocoreStubber, "__call__", unless_answered)


def price(prices: dict[str, str], currency: str = "EUR") -> None:
    """Staff price products (the inventory service's own code, on moto's tables): an order is
    priced from here, never from its body."""
    from decimal import Decimal

    from catalog import Caller
    from eventstore.store import EventStore
    from inventory.stock import Stock

    client = boto3.client("dynamodb")  # the test's own: no fault a test injects into the platform's
    stock = Stock(EventStore(EVENT_STORE, client=client), name_of("inventory"), client=client)
    for product_id, amount in prices.items():
        current = stock.get(product_id)["prices"] if _exists(stock, product_id) else {}
        wanted = {**{c: Decimal(p) for c, p in current.items()}, currency: Decimal(amount)}
        stock.set_prices(product_id, wanted, caller=Caller("staff", "pricing"))


def _exists(stock, product_id: str) -> bool:
    from inventory.stock import ProductNotFound

    try:
        stock.get(product_id)
    except ProductNotFound:
        return False
    return True
