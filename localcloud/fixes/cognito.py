"""Cognito: a user-pool authorizer without scopes takes ID tokens only."""

from __future__ import annotations

from localcloud.fixes.framework import patch, require


def take_only_id_tokens_without_scopes() -> None:
    """What AWS does and MiniStack 1.5.33 does not: docs/LOCAL-CLOUD.md, the row of this fix.

    Refuse any token whose `token_use` is not `id` on a method without scopes; with scopes,
    MiniStack's own check (an access token carrying one of them) is AWS's."""
    from ministack.services import apigateway_v1

    fix = "take_only_id_tokens_without_scopes"
    require(apigateway_v1, "_gw_error", fix=fix)

    def validate(original):
        async def id_tokens_only(authorizer, method_obj, headers, query_params, stage):
            claims, error = await original(authorizer, method_obj, headers, query_params, stage)
            if error is None and not method_obj.get("authorizationScopes") and claims.get("token_use") != "id":
                return None, apigateway_v1._gw_error("UNAUTHORIZED", "Unauthorized")
            return claims, error

        return id_tokens_only

    patch(
        apigateway_v1,
        "_validate_cognito_authorizer",
        validate,
        fix=fix,
        params=("authorizer", "method_obj", "headers", "query_params", "stage"),
    )
