"""The commands a user types, run through the Makefile as written, on a local cloud of their own
(its own port and state directory, so `make up`'s cloud on 4566 is never touched): make up,
make status, the "Try it" commands that make status prints, make invoke, make logs, make fault
RATE=, and make down."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import subprocess
import threading
import time

import boto3
import pytest

from localcloud.cloud import ROOT, free_port
from tests.e2e.conftest import ON_AWS, eventually

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(ON_AWS, reason="runs make up and make down on a local cloud")]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    port = free_port()
    env = {
        **os.environ,
        "LOCAL_CLOUD_PORT": str(port),
        "LOCAL_CLOUD_STATE_DIR": str(tmp_path_factory.mktemp("cloud")),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    yield env
    make(env, "down", timeout=300)  # whatever happened above


def make(env: dict, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def endpoint(env: dict) -> str:
    return f"http://127.0.0.1:{env['LOCAL_CLOUD_PORT']}"


def client(env: dict, service: str):
    return boto3.client(
        service,
        endpoint_url=endpoint(env),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_make_up_deploys_and_says_what_runs_where(env):
    result = make(env, "up")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert re.search(r"ready in \d+\.\ds", result.stdout)
    assert "functions run on python3." in result.stdout and "deployed, on python3.12" in result.stdout
    assert "LocalApiUrl" in result.stdout and f"{endpoint(env)}/restapis/" in result.stdout


def test_make_status_prints_the_outputs_and_the_try_it_commands(env):
    result = make(env, "status")
    assert result.returncode == 0, result.stderr
    assert f"running on {endpoint(env)}" in result.stdout
    assert "deployed, on python3.12" in result.stdout
    assert "events put-events --entries file://events/order-created.json" in result.stdout


def try_it_lines(env: dict) -> list[str]:
    """The shell lines `make status` prints under "Try it", comments dropped."""
    text = make(env, "status").stdout
    block = text.split("Try it", 1)[1].splitlines()[1:]
    return [line.strip() for line in block if line.strip() and not line.strip().startswith("#")]


def bash(line: str, env: dict) -> str:
    result = subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{line}\n{result.stderr}"
    return result.stdout


def test_the_try_it_commands_work_as_printed(env):
    lines = try_it_lines(env)
    setup = "\n".join(line for line in lines if line.startswith(("TOKEN=", "customer=(", "staff=(")))
    at = next(i for i, line in enumerate(lines) if "/inventory/SKU-1/prices" in line)
    price = "\n".join(lines[at : at + 2])  # the PUT spans two lines
    assert json.loads(bash(f"{setup}\n{price}", env))["prices"] == {"EUR": "19.99"}
    post = next(i for i, line in enumerate(lines) if "-X POST" in line)
    placed = json.loads(bash(f"{setup}\n{lines[post]}\n{lines[post + 1]}", env))  # the POST spans two lines
    assert placed["version"] == 1
    get = next(line for line in lines if line.endswith("/orders/<orderId>"))
    read = lambda: json.loads(bash(f"{setup}\n{get.replace('<orderId>', placed['orderId'])}", env))  # noqa: E731

    def projected():
        order = read()
        assert order.get("orderId") == placed["orderId"], order
        return order

    subject = _subject(bash(f"{setup}\necho $TOKEN", env).strip())
    assert eventually(projected, timeout=60)["customerId"] == subject  # the order is the token's customer's
    assert _subject(read_token(env)) == subject  # a second `make token` signs the same customer in again

    stock = next(line for line in lines if "/inventory/SKU-1 " in line)
    assert json.loads(bash(f"{setup}\n{stock}", env))["available"] == 40
    refused = bash(f"{setup}\n{stock.replace('staff[@]', 'customer[@]')} -o /dev/null -w '%{{http_code}}'", env)
    assert refused == "403"  # a customer's token on a staff route

    put = next(line for line in lines if "file://events/order-created.json" in line)
    assert json.loads(bash(put, env))["FailedEntryCount"] == 0
    invoke = next(line for line in lines if "EVENT=store:" in line)
    ran = subprocess.run(
        ["bash", "-c", invoke.replace("<orderId>", placed["orderId"])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert re.search(r'"outcome": ?"(applied|already-applied|no-change)"', ran.stdout + ran.stderr)
    audit = next(line for line in lines if "lambda invoke" in line)
    assert "FunctionError" not in bash(audit, env)


def read_token(env: dict) -> str:
    return make(env, "token", "EMAIL=ada@example.com").stdout.strip()


def _subject(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def test_make_invoke_runs_a_function_here_against_the_cloud(env):
    result = make(env, "invoke", "FN=Audit", "EVENT=events/order-created.json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r'"outcome": ?"(already-)?recorded"', result.stdout + result.stderr), result.stdout


def test_make_logs_prints_a_functions_log_lines_and_follows(env):
    logs = subprocess.Popen(
        ["make", "-s", "logs", "FN=OrdersProjection"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    output = logs.stdout
    assert output is not None  # stdout=PIPE

    def forward() -> None:
        for line in output:
            lines.put(line)

    threading.Thread(target=forward, daemon=True).start()
    try:
        seen: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not any('"event consumed"' in line for line in seen):
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
        assert any('"event consumed"' in line for line in seen), seen[-20:]
        assert logs.poll() is None  # still following
    finally:
        os.killpg(logs.pid, 15)
        logs.wait(timeout=30)


def test_make_fault_sets_the_rate_and_takes_it_off(env):
    from platform_faults.switches import SWITCHES

    status = re.search(r"AnalyticsFunctionName\s+(\S+)", make(env, "status").stdout)
    assert status is not None
    function = status.group(1)
    lambda_ = client(env, "lambda")

    def switches() -> dict:
        variables = lambda_.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        return {k: v for k, v in variables.items() if k in SWITCHES}  # not FAULT_INJECTION_HANDLER, the stack's

    result = make(env, "fault", "FN=Analytics", "RATE=0.5")
    assert result.returncode == 0, result.stderr
    assert "Analytics: FAULT_INJECTION_RATE=0.5" in result.stdout
    assert switches() == {"FAULT_INJECTION_RATE": "0.5"}
    result = make(env, "fault", "FN=Analytics")
    assert "Analytics: fault injection off" in result.stdout and switches() == {}


def test_make_down_stops_it_and_status_says_so(env):
    result = make(env, "down", timeout=300)
    assert result.returncode == 0 and "stopped the local cloud" in result.stdout, result.stderr
    after = make(env, "status")
    assert after.returncode != 0 and f"not running on {endpoint(env)}" in after.stdout
