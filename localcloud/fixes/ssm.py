"""SSM: the public parameter the stacks resolve the Powertools layer from."""

from __future__ import annotations

from infra.runtime import ARCHITECTURE, POWERTOOLS_LAYER_PARAMETER
from localcloud.fixes.framework import register, require

# Never fetched: MiniStack runs functions on its own interpreter, whose environment already
# has Powertools and pydantic (requirements.txt), so the layer only needs to resolve.
POWERTOOLS_LAYER_ARN = (
    f"arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-{ARCHITECTURE}:1"
)


def serve_powertools_layer_parameter() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Serve the Powertools layer's public SSM parameter beside MiniStack's own two."""
    from ministack.services import ssm

    require(ssm, "_PUBLIC_AMI_PARAMETERS", fix="serve_powertools_layer_parameter")
    register(
        ssm._PUBLIC_AMI_PARAMETERS,
        POWERTOOLS_LAYER_PARAMETER,
        POWERTOOLS_LAYER_ARN,
        fix="serve_powertools_layer_parameter",
        where="ssm._PUBLIC_AMI_PARAMETERS",
    )
