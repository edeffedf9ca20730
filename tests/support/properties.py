"""How many examples a property test draws: its own full count, times PROPERTY_SCALE.

`make unit` and `make mutate` draw every test's full count (the scale is 1 unless set);
`make test` a quarter of it, since the suite runs them beside everything else (a small
slice of the long run, as the rest of `make test` is); `make properties` ten times it, and
more when asked (`make properties PROPERTY_SCALE=50`)."""

from __future__ import annotations

import math
import os


def examples(full: int) -> int:
    """`full` examples scaled by PROPERTY_SCALE, at least one."""
    return max(1, math.ceil(full * float(os.environ.get("PROPERTY_SCALE", "1"))))
