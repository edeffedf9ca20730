"""SPIKE: put the durable saga into a running local cloud, next to the deployed platform.

Works around MiniStack 1.5.33's gaps (README.md, "Workarounds"):
- durable mode turns on only with DurableConfig {"Enabled": true}, which is not an AWS field and
  which boto3 refuses: the function is created with a raw SigV4-signed REST CreateFunction;
- the code asset is lambdas/ + function.py + the SDK (aws-durable-execution-sdk-python 2.0.1,
  copied from .venv): the SDK is not part of the Lambda runtime.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path

import aws_durable_execution_sdk_python as sdk
import boto3
import urllib3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
NAME = "order-platform-prod-DurableSagaSpike"
HANDLER_MODULE = "durable_saga_fn"
EXECUTION_TIMEOUT = 900  # seconds, the whole execution (AWS field)
# Copied from these deployed functions: their environment (tables) and runtime settings.
SOURCES = ("OrderSaga", "Payments", "InventoryReservations")


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted((ROOT / "lambdas").rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, file.relative_to(ROOT / "lambdas"))
        sdk_dir = Path(sdk.__file__).parent  # vendored: the runtime does not have it
        for file in sorted(sdk_dir.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, Path("aws_durable_execution_sdk_python") / file.relative_to(sdk_dir))
        archive.write(HERE / "function.py", f"{HANDLER_MODULE}.py")
    return buffer.getvalue()


def _signed(endpoint: str, method: str, path: str, data: str | None = None):
    """A raw Lambda REST request, SigV4-signed with the local cloud's key pair."""
    url = f"{endpoint}{path}"
    request = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("test", "test"), "lambda", "us-east-1").add_auth(request)
    return urllib3.request(method, url, body=request.body, headers=dict(request.headers))


def deploy(endpoint: str, outputs, extra_environment: dict[str, str] | None = None) -> str:
    """Create the durable function (once); its name."""
    client = boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    configs = {s: client.get_function_configuration(FunctionName=outputs.function_name(s)) for s in SOURCES}
    saga = configs["OrderSaga"]
    environment: dict[str, str] = {}
    for config in configs.values():
        environment.update(config.get("Environment", {}).get("Variables", {}))
    environment["POWERTOOLS_SERVICE_NAME"] = "DurableSagaSpike"
    environment.update(extra_environment or {})
    body = {
        "FunctionName": NAME,
        "Runtime": saga["Runtime"],
        "Role": saga["Role"],
        "Handler": f"{HANDLER_MODULE}.handler",
        "Code": {"ZipFile": base64.b64encode(code_zip()).decode()},
        "Timeout": max(saga.get("Timeout", 30), 60),
        "MemorySize": saga.get("MemorySize", 256),
        "Architectures": saga.get("Architectures", ["arm64"]),
        "Environment": {"Variables": environment},
        "TracingConfig": saga.get("TracingConfig", {"Mode": "Active"}),
        "Layers": [layer["Arn"] for layer in saga.get("Layers", [])],
        # "Enabled" is MiniStack's switch, not AWS's (AWS: ExecutionTimeout, RetentionPeriodInDays, KMSKeyArn)
        "DurableConfig": {"Enabled": True, "ExecutionTimeout": EXECUTION_TIMEOUT, "RetentionPeriodInDays": 1},
    }
    try:
        client.delete_function(FunctionName=NAME)
    except client.exceptions.ResourceNotFoundException:
        pass
    response = _signed(endpoint, "POST", "/2015-03-31/functions", json.dumps(body))
    if response.status >= 300:
        raise RuntimeError(f"CreateFunction {NAME}: {response.status} {response.data[:500]!r}")
    # read raw: boto3's parser drops the non-AWS "Enabled" member from GetFunction's answer
    stored = json.loads(_signed(endpoint, "GET", f"/2015-03-31/functions/{NAME}/configuration").data)
    if not stored.get("DurableConfig", {}).get("Enabled"):
        raise RuntimeError(f"{NAME} is not durable on the local cloud: {stored.get('DurableConfig')}")
    return NAME
