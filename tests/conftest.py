"""Shared fixtures: fake AWS credentials for moto, a Lambda context, moto-backed tables."""

from __future__ import annotations

import os

import pytest
from hypothesis import Phase, settings

# `make mutate` runs the property tests once for each mutant: the first failing example kills it,
# and shrinking that example (minutes, against moto) would only slow the run; derandomized, so a
# mutant's verdict does not depend on the draw.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.generate], derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# Never talk to a real account by accident: moto and the local cloud accept these.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "OrderPlatformTests")
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


@pytest.fixture
def lambda_context():
    from localcloud.run_handler import Context

    return Context("test-function")
