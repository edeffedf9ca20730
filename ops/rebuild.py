"""Rebuild the orders read model from the event store, the source of truth.

    python -m ops.rebuild                        # in place
    python -m ops.rebuild --into orders-rebuilt  # into a fresh table (created if missing)

Every order is folded from its full history with the aggregate's own code, its money from its
payment's answers, and written only if the stored view is older: running it twice, or while
the projection runs, is safe.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict

import boto3

from catalog import ORDER_EVENTS, PAYMENT_ANSWERS, Envelope
from eventstore.store import EventStore
from infra.tables import ORDERS
from ops.deployment import progress, stack_outputs
from orders.read_model import OrdersReadModel, OrderView
from projection.projector import PAYMENT_STREAM


def ensure_table(name: str, client=None) -> None:
    """A table shaped like the read model (infra/tables.py), created and awaited if missing."""
    client = client or boto3.client("dynamodb")
    try:
        client.describe_table(TableName=name)
        return
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(**ORDERS.create_table(name))
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def rebuild(store: EventStore, read_model: OrdersReadModel, *, out=sys.stderr) -> dict[str, float]:
    started = time.monotonic()
    total = max(store.approximate_count(), 1)
    histories: dict[str, list[Envelope]] = defaultdict(list)
    payments: dict[str, list[Envelope]] = defaultdict(list)  # each order's payment answers
    scanned = 0
    for page_scanned, events in store.scan(event_types=[t.value for t in (*ORDER_EVENTS, *PAYMENT_ANSWERS)]):
        scanned += page_scanned
        for event in events:
            if event.aggregateId.startswith(PAYMENT_STREAM):
                payments[event.aggregateId.removeprefix(PAYMENT_STREAM)].append(event)
            else:
                histories[event.aggregateId].append(event)
        print(f"\rscanning  {progress(min(scanned, total), total)}", end="", file=out, flush=True)
    print(file=out)

    written = unchanged = 0
    for done, (order_id, history) in enumerate(sorted(histories.items()), start=1):
        history.sort(key=lambda e: e.version)
        view = OrderView.folded(history)
        if paid := sorted(payments.get(order_id, []), key=lambda e: e.version):
            view = view.paid(paid)
        if read_model.save_if_newer(view):
            written += 1
        else:
            unchanged += 1
        print(f"\rwriting   {progress(done, len(histories))}", end="", file=out, flush=True)
    print(file=out)
    return {
        "eventsScanned": scanned,
        "orders": len(histories),
        "written": written,
        "alreadyCurrent": unchanged,
        "seconds": round(time.monotonic() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.rebuild", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--into", metavar="TABLE", help="write into this table instead of the live read model")
    parser.add_argument("--stage", default=None)
    args = parser.parse_args(argv)
    outputs = stack_outputs(args.stage)
    target = args.into or outputs["OrdersTableName"]
    if args.into:
        ensure_table(target)
    summary = rebuild(EventStore(outputs["EventStoreTableName"]), OrdersReadModel(target))
    print(f"rebuilt {target}: " + ", ".join(f"{k} {v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
