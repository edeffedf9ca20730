"""Function settings come from the environment, read on first use (never at import time)."""

from __future__ import annotations

import os


class MissingSetting(RuntimeError):
    pass


def setting(name: str) -> str:
    """An environment variable the deployment must set; a clear error when it did not."""
    value = os.environ.get(name)
    if not value:
        raise MissingSetting(f"environment variable {name} is not set: is the function deployed by infra/?")
    return value
