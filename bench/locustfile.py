"""Locust: POST /orders at steady arrival rates (an open model), one rate after another.

bench/load.py runs it with `locust --headless` in a process of its own (locust patches the
standard library with gevent). Each simulated buyer places one order a second, whatever the
answers take (`constant_pacing`), so a rate of R orders a second is R buyers, started at
random points of the second so that their orders do not arrive together. The orders' fate is
read afterwards from the event store: this file records only what the client saw.

Environment: LOAD_RATES ("1,2,4": orders a second, a step each), LOAD_STEP_SECONDS,
LOAD_TOKENS (the ID tokens of the registered customers, comma-separated: each order is placed
as one of them, as a signed-in customer's app does), LOAD_SKU, LOAD_RECORDS (the JSON file
written when the run ends).
"""

from __future__ import annotations

import json
import os
import random
import time

import gevent
from locust import FastHttpUser, LoadTestShape, constant_pacing, events, task

RATES = [int(rate) for rate in os.environ["LOAD_RATES"].split(",")]
STEP_SECONDS = float(os.environ["LOAD_STEP_SECONDS"])
TOKENS = os.environ["LOAD_TOKENS"].split(",")
SKU = os.environ["LOAD_SKU"]

_orders: list[dict] = []
_run: dict[str, float | None] = {"started": None}


class Steps(LoadTestShape):
    """RATES[i] buyers during step i, then stop."""

    def tick(self):
        step = int(self.get_run_time() // STEP_SECONDS)
        if step >= len(RATES):
            return None
        return RATES[step], RATES[step]


class Buyer(FastHttpUser):
    wait_time = constant_pacing(1.0)

    def on_start(self) -> None:
        gevent.sleep(random.random())  # spread the buyers over the second

    @task
    def place_order(self) -> None:
        body = json.dumps({"items": [{"productId": SKU, "quantity": 1, "price": "9.99"}]})
        customer = random.randrange(len(TOKENS))  # the order is theirs: the API reads them from the token
        headers = {"Content-Type": "application/json", "Authorization": TOKENS[customer]}
        sent = time.time()
        with self.client.post(
            "/orders", data=body, headers=headers, name="POST /orders", catch_response=True
        ) as response:
            answered = time.time()
            order_id = None
            if 200 <= response.status_code < 300:
                order_id = response.json().get("orderId")
                response.success()
            else:
                response.failure(f"{response.status_code}")
        _orders.append(
            {
                "sent": sent,
                "postMs": (answered - sent) * 1000,
                "status": response.status_code,
                "orderId": order_id,
                "customer": customer,
            }
        )


@events.test_start.add_listener
def _started(**_) -> None:
    _run["started"] = time.time()


@events.quitting.add_listener
def _write(**_) -> None:
    with open(os.environ["LOAD_RECORDS"], "w") as out:
        json.dump({"started": _run["started"], "rates": RATES, "stepSeconds": STEP_SECONDS, "orders": _orders}, out)
