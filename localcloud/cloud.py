"""Start, deploy to and stop the local cloud. Used by `make up/down` and by the e2e tests."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from localcloud import stopping

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "000000000000"  # MiniStack's account
REGION = "us-east-1"
ACCESS_KEY_ID = SECRET_ACCESS_KEY = "test"  # the local cloud's one key pair (the API verifies signatures with it)
# Its account, region and keys, as an AWS SDK and the CDK CLI read them from the environment.
LOCAL_ACCOUNT = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "CDK_DEFAULT_ACCOUNT": ACCOUNT,
    "CDK_DEFAULT_REGION": REGION,
}
# Each stage's stacks, synthesized once for the code they are made from and reused by every
# deploy of that code, by any process (a test session deploys into several local clouds at once).
ASSEMBLIES = ROOT / "build" / "cloud-assembly"
SYNTH_INPUTS = ("app.py", "cdk.json", "requirements.txt", "package-lock.json", "infra", "lambdas")


T = TypeVar("T")


class LocalCloudError(RuntimeError):
    pass


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on now: for a local cloud of a test's or tool's own."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Outputs:
    """The deployed stacks' outputs, by output name (stack name dropped)."""

    values: dict[str, str]
    endpoint: str | None = None  # None on real AWS

    def __getitem__(self, name: str) -> str:
        try:
            return self.values[name]
        except KeyError:
            raise LocalCloudError(f"no stack output {name!r}; outputs are: {', '.join(sorted(self.values))}") from None

    @property
    def api_url(self) -> str:
        """The API's base URL (no trailing slash). On the local cloud, MiniStack's path form,
        which needs no DNS for *.execute-api.localhost."""
        url = self["ApiUrl"].rstrip("/")
        if self.endpoint is None:
            return url
        api_id = url.split("//", 1)[1].split(".", 1)[0]
        stage = url.rsplit("/", 1)[1]
        return f"{self.endpoint}/restapis/{api_id}/{stage}/_user_request_"

    def function_name(self, construct_name: str) -> str:
        return self[f"{construct_name}FunctionName"]

    def function_names(self) -> dict[str, str]:
        suffix = "FunctionName"
        return {k[: -len(suffix)]: v for k, v in self.values.items() if k.endswith(suffix)}

    @classmethod
    def from_file(cls, path: Path, endpoint: str | None) -> Outputs:
        stacks = json.loads(path.read_text())
        return cls({k: v for outputs in stacks.values() for k, v in outputs.items()}, endpoint)


class LocalCloud:
    """MiniStack on 127.0.0.1:port, its state and logs under state_dir."""

    def __init__(
        self,
        *,
        port: int,
        state_dir: Path,
        stage: str = "dev",
        with_fixes: bool = True,
        server_env: dict[str, str] | None = None,
    ):
        self.port = port
        # Without the fixes it is plain MiniStack: the fidelity tests show each difference on it.
        self.with_fixes = with_fixes
        self.server_module = "localcloud.server" if with_fixes else "ministack"
        self.state_dir = Path(state_dir)
        self.stage = stage
        self.endpoint = f"http://127.0.0.1:{port}"
        self.pid_file = self.state_dir / "ministack.pid"
        self.log_file = self.state_dir / "ministack.log"
        self.saved_state_dir = self.state_dir / "state"  # a JSON file per service, written on stop
        self.outputs_file = self.state_dir / "outputs.json"
        self._process: subprocess.Popen | None = None  # when this process started the server
        self._extra_env = server_env or {}

    # ---- environment ------------------------------------------------------------------------

    def aws_env(self) -> dict[str, str]:
        """What an AWS SDK or the CDK CLI needs to talk to this cloud instead of AWS."""
        return {"AWS_ENDPOINT_URL": self.endpoint, **LOCAL_ACCOUNT}

    def _server_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "GATEWAY_PORT": str(self.port),
            "BIND_HOST": "127.0.0.1",
            "PERSIST_STATE": "1",
            "STATE_DIR": str(self.saved_state_dir),
            "IOT_MTLS_ENABLED": "0",
            "TMPDIR": str(self.state_dir / "tmp"),  # Lambda workers unpack code here, not in /tmp
            # Async retries of failing functions, seconds apart instead of AWS's minutes (docs/LOCAL-CLOUD.md).
            "LAMBDA_ASYNC_RETRY_BASE_SECONDS": os.environ.get("LAMBDA_ASYNC_RETRY_BASE_SECONDS", "1"),
            "LAMBDA_ASYNC_RETRY_MAX_SECONDS": os.environ.get("LAMBDA_ASYNC_RETRY_MAX_SECONDS", "4"),
            "LOG_LEVEL": os.environ.get("LOCAL_CLOUD_LOG_LEVEL", "INFO"),
            "LOCAL_CLOUD_KEY_PAIR": f"{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}",  # what the API verifies signatures with
            "LOCAL_CLOUD_IN_FLIGHT": str(self.in_flight_file),
            **self._extra_env,
        }

    # ---- lifecycle --------------------------------------------------------------------------

    @property
    def in_flight_file(self) -> Path:
        return self.state_dir / "in-flight"

    def in_flight(self) -> int:
        """What the cloud still has to do: asynchronous invocations accepted and not done yet
        (queued, running or waiting for a retry), and stream records not yet read past
        (localcloud/in_flight.py). What a harness waits on."""
        try:
            return int(self.in_flight_file.read_text() or 0)
        except (OSError, ValueError):
            return 0

    def wait_until_idle(self, watch: Callable[[], T], *, idle_for: float = 1.5, timeout: float = 900) -> T:
        """Until nothing has been in flight, and `watch()` (a figure the caller reads: counters, a
        meter, flushed every half second) has not moved, for `idle_for` seconds; its last value.
        Nothing is left to move it then but a schedule (the saga's sweep)."""
        deadline = time.monotonic() + timeout
        last, since = watch(), time.monotonic()
        while True:
            time.sleep(0.5)
            now = watch()
            if now != last or self.in_flight():
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= idle_for:
                return last
            if time.monotonic() > deadline:
                raise TimeoutError(f"the local cloud still busy after {timeout:.0f} s: {self.in_flight()} in flight")

    def is_running(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_ministack/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def start(self, timeout: float = 60) -> None:
        if self.is_running():
            return
        (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", self.server_module],
                cwd=ROOT,
                env=self._server_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() ends its Lambda workers too
            )
        self._process = process
        self.pid_file.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while not self.is_running():
            if process.poll() is not None:
                raise LocalCloudError(f"the local cloud exited with {process.returncode}; see {self.log_file}")
            if time.monotonic() > deadline:
                self.stop()
                raise LocalCloudError(f"the local cloud did not answer within {timeout:.0f}s; see {self.log_file}")
            time.sleep(0.2)

    def stop(self, timeout: float = 300, *, at_once: bool = False) -> bool:
        """Stop the server and its workers, in order (localcloud/stopping.py: the invocations
        running end first, then the state is saved on the way out; with a large state that takes
        a while, 89 s after `make chaos`'s first five scenarios). Plain MiniStack, or any with
        `at_once`, is stopped at once: its running invocations are cut short, as by a crash.
        Either gets `timeout` seconds before it is killed. False if none ran."""
        if not self.pid_file.exists():
            return False
        pid = int(self.pid_file.read_text())
        self.pid_file.unlink()
        try:
            if self.with_fixes and not at_once:  # localcloud.server listens for the stop in order
                os.kill(pid, stopping.STOP_SIGNAL)
            else:
                os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        if self._process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout)  # reap it, or it lingers as a zombie in its group
            self._process = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)  # any worker of the group still alive?
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        print(
            f"the local cloud did not exit within {timeout:.0f}s of SIGTERM and was killed: its state may "
            f"not have been saved (see {self.log_file})",
            file=sys.stderr,
        )
        os.killpg(pid, signal.SIGKILL)
        return True

    # ---- deployment -------------------------------------------------------------------------

    def cdk(self, *args: str, quiet: bool = False) -> None:
        cdk(*args, stage=self.stage, env=self.aws_env(), quiet=quiet)

    def deploy(self, *, quiet: bool = False) -> Outputs:
        """Bootstrap once, then `cdk deploy --all` of the stage's synthesized stacks: unchanged
        stacks are left as they are."""
        assembly = ["--app", str(synthesized(self.stage, quiet=quiet))]
        if not self._bootstrapped():
            self.cdk("bootstrap", f"aws://{ACCOUNT}/{REGION}", *assembly, quiet=quiet)
        self.cdk(
            "deploy",
            "--all",
            *assembly,
            "--require-approval",
            "never",
            "--outputs-file",
            str(self.outputs_file),
            quiet=quiet,
        )
        return self.outputs()

    def _bootstrapped(self) -> bool:
        import boto3

        client = boto3.client(
            "cloudformation",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )
        try:
            stacks = client.describe_stacks(StackName="CDKToolkit")["Stacks"]
        except client.exceptions.ClientError:
            return False
        return bool(stacks) and stacks[0]["StackStatus"].endswith("_COMPLETE")

    def outputs(self) -> Outputs:
        if not self.outputs_file.exists():
            raise LocalCloudError("nothing deployed yet: run `make up`")
        return Outputs.from_file(self.outputs_file, self.endpoint)


def cdk(*args: str, stage: str, env: dict[str, str], quiet: bool = False) -> None:
    """The CDK CLI (node_modules' pin) on the app, for one stage."""
    env = {
        **os.environ,
        **env,
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
        "CDK_DISABLE_VERSION_CHECK": "1",
        "NODE_NO_WARNINGS": "1",
    }
    command = ["npx", "--no-install", "cdk", *args, "-c", f"stage={stage}"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=quiet, text=True)
    if result.returncode != 0:
        detail = (result.stdout or "")[-3000:] + (result.stderr or "")[-3000:] if quiet else ""
        raise LocalCloudError(f"`cdk {' '.join(args)}` failed ({result.returncode})\n{detail}")


def synthesized(stage: str, *, quiet: bool = True) -> Path:
    """The stage's stacks synthesized (`cdk synth`, cdk-nag inside: an unsuppressed finding fails
    it) into a cloud assembly of their own, once for the code they are made from: every deploy,
    security gate and catalog check of the same code, by this process or another, takes it as it
    is. Concurrent synths into one folder would fail (the CDK CLI locks its output), so the first
    process synthesizes while the others wait for it. The stacks name no account or region, so the
    assembly is the same whichever cloud (or none) it is deployed to."""
    target = ASSEMBLIES / f"{stage}-{synth_inputs_digest(stage)}"
    ASSEMBLIES.mkdir(parents=True, exist_ok=True)
    with open(ASSEMBLIES / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "manifest.json").exists():
            building = ASSEMBLIES / f"{target.name}.building"
            shutil.rmtree(building, ignore_errors=True)
            cdk("synth", "--quiet", "--output", str(building), stage=stage, env=LOCAL_ACCOUNT, quiet=quiet)
            building.rename(target)
    return target


def synth_inputs_digest(stage: str) -> str:
    """What a synth of `stage` is made from: the app, its settings and pins, and every file of
    infra/ and lambdas/ (the one code asset), by path and content."""
    digest = hashlib.sha256(stage.encode())
    for name in SYNTH_INPUTS:
        path = ROOT / name
        files = (
            sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts)
            if path.is_dir()
            else [path]
        )
        for file in files:
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def default_cloud() -> LocalCloud:
    """The cloud `make up` manages: port from LOCAL_CLOUD_PORT (4566), state in .local-cloud/
    (LOCAL_CLOUD_STATE_DIR: elsewhere, for a second cloud beside it)."""
    return LocalCloud(
        port=int(os.environ.get("LOCAL_CLOUD_PORT", "4566")),
        state_dir=Path(os.environ.get("LOCAL_CLOUD_STATE_DIR") or ROOT / ".local-cloud"),
        stage=os.environ.get("STAGE", "dev"),
    )
