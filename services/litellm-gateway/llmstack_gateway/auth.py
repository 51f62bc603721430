"""``general_settings.custom_auth``: the master key, compared in constant time; anything else is a 401.

Without a database LiteLLM answers a missing key with 500 and a wrong one with 400 (research/litellm-hooks.md).
``custom_auth`` replaces its check, so this function is the whole check. Never combine it with
``allow_requests_on_db_unavailable``: that lets a wrong key in.
"""

from __future__ import annotations

import hmac
import os

from fastapi import HTTPException, Request
from litellm.proxy._types import LitellmUserRoles, UserAPIKeyAuth

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"


def _presented(api_key: str | None) -> str:
    key = (api_key or "").strip()
    return key[7:].strip() if key.lower().startswith("bearer ") else key


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    master = os.environ.get(MASTER_KEY_ENV, "")
    presented = _presented(api_key)
    if not master or not presented or not hmac.compare_digest(presented.encode(), master.encode()):
        raise HTTPException(status_code=401, detail="Invalid or missing API key")
    return UserAPIKeyAuth(api_key=presented, user_role=LitellmUserRoles.PROXY_ADMIN)
