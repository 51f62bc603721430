"""``general_settings.custom_auth``: every key known to the gateway, looked up in constant time; anything else 401.

Without a database LiteLLM answers a missing key with 500 and a wrong one with 400 (research/litellm-hooks.md).
``custom_auth`` replaces its check, so this function is the whole check. Never combine it with
``allow_requests_on_db_unavailable``: that lets a wrong key in.

The keys are the master key (operators) and each client's key (``clients.py``); which routes a key may use is
decided after auth: the surface (``surface.py``) and the clients' pre-call hook (403 naming the route).
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

from llmstack_gateway.clients import (
    CLIENT_FIELD,
    MASTER_KEY_ENV,
    OPERATOR,
    OPERATOR_FIELD,
    presented_key,
    registry,
)

__all__ = ["MASTER_KEY_ENV", "user_api_key_auth"]


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    caller = registry().identify(presented_key(api_key))
    if caller is None:
        raise HTTPException(status_code=401, detail="Invalid or missing API key")
    # the key itself never goes into the auth object: LiteLLM logs and spends against ``api_key``
    if caller is OPERATOR:
        return UserAPIKeyAuth(
            api_key="llmstack-operator",
            user_role=LitellmUserRoles.PROXY_ADMIN,
            metadata={OPERATOR_FIELD: True},
        )
    return UserAPIKeyAuth(
        api_key=f"llmstack-client-{caller.name}",
        key_alias=caller.name,
        user_role=LitellmUserRoles.INTERNAL_USER,
        metadata={CLIENT_FIELD: caller.name},
    )
