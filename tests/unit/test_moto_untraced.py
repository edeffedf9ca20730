"""The suite's moto (tests/support/aws.py, `moto_untraced`) answers with the trace function off,
so that coverage's tracer does not run through moto's code, and puts it back for the caller's."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager

import boto3
import pytest
from moto import mock_aws

from tests.support import aws


def after_the_call() -> None:
    """Called once the client's call has returned: the tracer sees it if it is back."""


def traced(moto: AbstractContextManager) -> set[str]:
    """The files, and the functions by name, that a trace function saw while a client was made
    and called in `moto`, and after."""
    seen: set[str] = set()

    def trace(frame, event, arg):
        seen.update((frame.f_code.co_filename, frame.f_code.co_name))
        return trace

    with moto:
        kept = sys.gettrace()
        sys.settrace(trace)
        try:
            boto3.client("dynamodb", region_name="us-east-1").list_tables()
            after_the_call()
        finally:
            sys.settrace(kept)
    return seen


@pytest.mark.parametrize(("moto", "untraced"), [(mock_aws, False), (aws.moto, True)])
def test_moto_answers_with_the_tracer_off_and_the_caller_is_traced_again(moto, untraced):
    seen = traced(moto())
    in_moto = {name for name in seen if "/moto/dynamodb/" in name}  # its DynamoDB answering
    assert bool(in_moto) is not untraced, sorted(in_moto)[:3]
    assert any("/botocore/client.py" in name for name in seen)  # the call itself was traced
    assert "after_the_call" in seen
