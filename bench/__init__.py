"""The benchmark (`make bench`): cold starts, per-event overhead, end-to-end throughput and
latency on the local cloud, and what a million orders would cost on AWS."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT / "lambdas"), str(ROOT)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
