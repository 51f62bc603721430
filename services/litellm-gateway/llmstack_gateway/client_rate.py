"""Each client's optional request rate (``clients.<name>.requests_per_minute``): a sliding one-minute window.

Checked by the clients' hook (clients.py) after the route check and BEFORE the budget hook reserves, so a request
refused here holds nothing. The window is a log of admitted requests' times, not a fixed minute: a client at 3/min
gets 3 answers in any 60 seconds, never 6 across a minute boundary, and ``Retry-After`` is exactly when its oldest
request leaves the window.

The Redis version is one Lua script on Redis's own clock (``TIME``), so every worker and replica shares one window
per client and no two of them can both take its last slot; the memory version is for ``llmstack local`` (one
process). A Redis that cannot be reached admits the request with a warning: the budget hook that runs next then
fails closed or open on the same outage, as ``budget.allow_when_counter_unavailable`` says.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from litellm.proxy._types import ProxyException
from litellm.proxy.common_utils.openai_error_payload import openai_error_type_for_status

log = logging.getLogger("llmstack.clients")

WINDOW_MS = 60_000


@dataclass(frozen=True)
class RateDecision:
    admitted: bool
    #: admitted requests in the window, this one included when admitted
    count: int
    #: milliseconds until the oldest request in the window leaves it (a slot frees up)
    retry_after_ms: int

    @property
    def retry_after_s(self) -> int:
        """Whole seconds for the ``Retry-After`` header, rounded up so a client retrying then is admitted."""
        return max(1, math.ceil(self.retry_after_ms / 1000))


class RateWindow(Protocol):
    async def admit(self, client: str, limit: int) -> RateDecision: ...


class MemoryRateWindow:
    """One process's window per client (``llmstack local``, unit tests)."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._admitted: dict[str, deque[float]] = {}

    async def admit(self, client: str, limit: int) -> RateDecision:
        now_ms = self._clock() * 1000
        times = self._admitted.setdefault(client, deque())
        while times and times[0] <= now_ms - WINDOW_MS:
            times.popleft()
        if len(times) >= limit:
            return RateDecision(False, len(times), int(times[0] + WINDOW_MS - now_ms))
        times.append(now_ms)
        return RateDecision(True, len(times), int(times[0] + WINDOW_MS - now_ms))


# KEYS[1]: the client's sorted set of admitted requests (member: a unique id, score: ms on Redis's clock)
# ARGV: limit, window in ms, this request's id. Returns {admitted 0/1, count, ms until the oldest leaves}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  count = count + 1
  admitted = 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local wait = window
if oldest[2] then wait = tonumber(oldest[2]) + window - now end
return {admitted, count, wait}
"""


class RedisRateWindow:
    """The stack's Redis: one window per client shared by every worker and replica."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._script: Any = None

    def key(self, client: str) -> str:
        return f"ratelimit:{{{self._prefix}}}:client:{client}"

    async def admit(self, client: str, limit: int) -> RateDecision:
        if self._script is None:
            import redis.asyncio as redis_asyncio

            connection = redis_asyncio.from_url(self._url, socket_connect_timeout=2, socket_timeout=2)
            self._script = connection.register_script(_ADMIT)
        try:
            admitted, count, wait = await self._script(
                keys=[self.key(client)], args=[limit, WINDOW_MS, uuid.uuid4().hex]
            )
        except (
            Exception
        ) as exc:  # redis.exceptions.RedisError, OSError: an outage is the budget hook's to judge
            log.warning("client rate window unavailable, admitting %r without a rate check: %s", client, exc)
            return RateDecision(True, 0, 0)
        return RateDecision(bool(admitted), int(count), int(wait))


class RateLimited(ProxyException):
    """The 429, raised by the clients' hook.

    A ProxyException, not fastapi's HTTPException: LiteLLM's /v1/messages handler answers an HTTPException with its
    own headers only and drops the exception's (litellm/proxy/anthropic_endpoints/endpoints.py), while it keeps a
    ProxyException's ``headers``, as /v1/chat/completions does (common_request_processing.py,
    ``_handle_llm_api_exception``), so ``Retry-After`` reaches the client on both. ``status_code`` and ``detail``
    are there for readers written for HTTPException (records.py classifies a failure by ``status_code``).
    """

    status_code = 429

    def __init__(self, detail: dict[str, Any], retry_after_s: int) -> None:
        super().__init__(
            message=str(detail["error"]),
            type=openai_error_type_for_status(429),
            param=None,
            code=429,
            headers={"Retry-After": str(retry_after_s)},
            provider_specific_fields=detail,
        )
        self.detail = detail


def rate_refusal(client: str, limit: int, decision: RateDecision) -> dict[str, Any]:
    """The 429's body: the client, its limit and when it may retry (also in the ``Retry-After`` header)."""
    return {
        "error": f"client '{client}' is limited to {limit} requests per minute and has made {decision.count} in "
        f"the last 60 s: retry in {decision.retry_after_s} s (Retry-After)",
        "reason": "client_rate_limited",
        "client": client,
        "requests_per_minute": limit,
        "retry_after_s": decision.retry_after_s,
    }
