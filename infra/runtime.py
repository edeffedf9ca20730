"""Runtime versions the stacks and the local cloud share. Plain Python: no CDK import."""

PYTHON_RUNTIME = "python3.12"
# Graviton: 20% less per GB-second than x86_64 for the same memory; the code is pure Python.
ARCHITECTURE = "arm64"
POWERTOOLS_VERSION = "3.37.0"  # the release requirements.txt pins; the layer must match it
# AWS publishes each Powertools layer's ARN under this public SSM parameter.
POWERTOOLS_LAYER_PARAMETER = f"/aws/service/powertools/python/{ARCHITECTURE}/{PYTHON_RUNTIME}/{POWERTOOLS_VERSION}"
