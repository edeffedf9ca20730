"""API Gateway: an IAM method checks the request's signature."""

from __future__ import annotations

import json

from localcloud.fixes.framework import patch, require


def verify_api_signatures() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Verify the SigV4 signature against the local cloud's key pair (LOCAL_CLOUD_KEY_PAIR, `id:secret`)
    and refuse any other Authorization header on an AWS_IAM method. MiniStack's AUTH switch is
    left off: it would enforce IAM policies on every service, which the local cloud does not model."""
    import os

    from ministack import app
    from ministack.core import sigv4
    from ministack.core.iam_evaluator import AuthError

    fix = "verify_api_signatures"
    require(app, "_parse_execute_api_url", "_get_module", fix=fix)
    require(app, "_execute_api_authorization_type", fix=fix)
    require(sigv4, "parse_header_signature", "header_signature_failure", "foreign_authorization_failure", fix=fix)
    key_id, _, secret = os.environ.get("LOCAL_CLOUD_KEY_PAIR", "test:test").partition(":")

    def refusal(method: str, raw_path: str, headers: dict, body: bytes, query_params: dict) -> tuple[str, str] | None:
        signature = sigv4.parse_header_signature(headers)
        if isinstance(signature, tuple):
            return signature
        if signature.access_key_id != key_id:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        return sigv4.header_signature_failure(signature, secret, method, raw_path, query_params, headers, body or b"")

    def handle(original):
        async def verified(host, path, method, headers, body, query_params, raw_path=None, raw_query_string=None):
            parsed = app._parse_execute_api_url(host, path)
            header = headers.get("authorization", "")
            refused = None
            if parsed is not None and header.startswith("AWS4-HMAC-SHA256"):
                refused = refusal(method, raw_path or path, headers, body, query_params)
            elif (
                parsed is not None
                and header
                and app._execute_api_authorization_type(*parsed[:2], method, parsed[2]) == "AWS_IAM"
            ):
                refused = sigv4.foreign_authorization_failure(headers)
            if refused:
                api_id, stage, _ = parsed
                answer = app._get_module("apigateway_v1").authentication_error_response(
                    api_id, stage, AuthError(*refused), headers, query_params
                )
                return answer or (
                    403,
                    {"Content-Type": "application/json", "x-amzn-ErrorType": refused[0]},
                    json.dumps({"message": refused[1]}).encode(),
                )
            return await original(host, path, method, headers, body, query_params, raw_path, raw_query_string)

        return verified

    patch(
        app,
        "_handle_execute_api_request",
        handle,
        fix=fix,
        params=("host", "path", "method", "headers", "body", "query_params", "raw_path", "raw_query_string"),
    )
