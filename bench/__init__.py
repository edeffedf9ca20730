"""The benchmark (`make bench`): cold starts, per-event overhead, end-to-end throughput and
latency on the local cloud, and what a million orders would cost on AWS."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PRICES = json.loads((ROOT / "bench" / "prices.json").read_text())
