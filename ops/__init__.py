"""Operations tools: redrive dead letters, replay the archive, rebuild the read model, trace a
conversation. They use only the AWS APIs and the stacks' outputs, so they work on AWS (your
credentials) and on the local cloud (AWS_ENDPOINT_URL, which the Makefile sets)."""

import sys
from pathlib import Path

# The tools share the event catalog and the domain with the functions, which live in lambdas/.
_LAMBDAS = str(Path(__file__).resolve().parents[1] / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.insert(0, _LAMBDAS)
