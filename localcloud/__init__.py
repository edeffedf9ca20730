"""The local cloud: MiniStack on 127.0.0.1 with the platform deployed in it by the real CDK CLI."""

import sys
from pathlib import Path

# The tools share the event catalog with the functions, which live in lambdas/.
_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
