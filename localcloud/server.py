"""Runs MiniStack on 127.0.0.1 with the fixes in localcloud/fixes/ applied.

Started by `make up` and by the end-to-end tests (localcloud.process), not by hand.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("BIND_HOST", "127.0.0.1")
    os.environ.setdefault("IOT_MTLS_ENABLED", "0")  # no listener on 0.0.0.0:8883
    from ministack import app

    from localcloud import fixes, meter, stopping

    fixes.apply_all()
    stopping.listen()  # LocalCloud.stop(): the invocations running end, then the state is saved
    if os.environ.get("LOCAL_CLOUD_METER"):  # the benchmark counts what AWS would bill
        meter.install(os.environ["LOCAL_CLOUD_METER"])
    sys.argv = [sys.argv[0]]  # MiniStack parses its own flags; run in the foreground
    app.main()


if __name__ == "__main__":
    main()
