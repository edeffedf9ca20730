"""Cold start: importing a handler module and running its module-level initialisation, in a
fresh interpreter with the function's environment, against a baseline function that only
imports boto3 and creates one client. Interpreter start-up itself is not counted."""

from __future__ import annotations

import io
import os
import statistics
import subprocess
import sys
import zipfile

from bench import ROOT
from bench.functions import FUNCTIONS, lambda_environment

BASELINE = "baseline"
_PROBE = """
import sys, time
sys.path.insert(0, {lambdas!r})
started = time.perf_counter()
if {module!r} == "baseline":
    import boto3
    boto3.client("dynamodb")
else:
    import importlib
    module, _, attribute = {module!r}.rpartition(".")
    getattr(importlib.import_module(module), attribute)
print(time.perf_counter() - started)
"""


def import_seconds(handler: str, name: str) -> float:
    code = _PROBE.format(lambdas=str(ROOT / "lambdas"), module=handler)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))},
           **lambda_environment(name), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def asset_bytes() -> int:
    """The zipped size of the one code asset every function shares (lambdas/)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted((ROOT / "lambdas").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, path.relative_to(ROOT / "lambdas"))
    return len(buffer.getvalue())


def measure(repeat: int) -> dict:
    # interleave the runs so a noisy moment hits every function alike
    samples: dict[str, list[float]] = {name: [] for name in [BASELINE, *FUNCTIONS]}
    for _ in range(repeat):
        samples[BASELINE].append(import_seconds(BASELINE, BASELINE))
        for name, handler in FUNCTIONS.items():
            samples[name].append(import_seconds(handler, name))
    baseline = statistics.median(samples[BASELINE])
    return {
        "repeat": repeat,
        "assetBytes": asset_bytes(),
        "baselineMs": round(baseline * 1000, 1),
        "functions": {name: {"medianMs": round(statistics.median(s) * 1000, 1),
                             "ratio": round(statistics.median(s) / baseline, 2)}
                      for name, s in samples.items() if name != BASELINE},
    }
