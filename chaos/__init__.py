"""The reliability suite (`make chaos`): scenarios that inject faults, duplicates, reordering,
concurrency, bad input and a restart into the platform on a local cloud, and an audit that
accounts for every event afterwards (docs/RELIABILITY.md)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
