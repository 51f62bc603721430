"""A small GraphQL client for Railway: bounded retries, rate limits, and Railway's own error messages.

Why not a GraphQL library: gql's transports would add a second HTTP stack for four behaviours we must control
exactly (Retry-After, Cloudflare's non-JSON 429/403, message-based transient errors, token-free errors).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from infra.railway.operations import operation_name

#: messages Railway (or its edge) answers with while a retry would succeed (research/railway.md §5.1)
TRANSIENT_MESSAGES = (
    "creating projects too quickly",
    "1 project per 30 seconds",
    "only one environment can be created",
    "whoa there pal",
    "try again in a sec",
    "problem processing request",
    "cannot redeploy yet",
    "wait for the original deployment",
    "operation is already in progress",
    "rate limit",
    "too many requests",
    "try again in",
)
NOT_FOUND_MESSAGES = ("not found", "could not find", "does not exist")
#: Railway answers "Not Authorized" for many resources that are already deleted; only trusted when deleting
GONE_ON_DELETE_MESSAGES = (*NOT_FOUND_MESSAGES, "not authorized")


class RailwayError(Exception):
    """A failed Railway call, with Railway's message and never the token."""

    def __init__(self, operation: str, message: str, *, status: int | None = None) -> None:
        self.operation = operation
        self.railway_message = message
        self.status = status
        super().__init__(f"Railway {operation} failed: {message}")

    @property
    def is_not_found(self) -> bool:
        return any(m in self.railway_message.lower() for m in NOT_FOUND_MESSAGES)

    @property
    def is_gone(self) -> bool:
        """True when a delete may treat the resource as already deleted."""
        return any(m in self.railway_message.lower() for m in GONE_ON_DELETE_MESSAGES)


class _RetryableError(Exception):
    def __init__(self, message: str, delay_s: float | None) -> None:
        super().__init__(message)
        self.message = message
        self.delay_s = delay_s


def _base_delay() -> float:
    # tests against the loopback fake shorten the backoff; nothing else should need to
    return float(os.environ.get("LLMSTACK_RAILWAY_RETRY_BASE_S", "1.0"))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay_s: float = field(default_factory=_base_delay)
    max_delay_s: float = 30.0
    #: give up once this much time has been spent waiting, whatever the attempt count
    max_total_wait_s: float = 180.0

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.max_delay_s, self.base_delay_s * 2.0**attempt)
        return delay * (0.5 + random.random() / 2)  # full jitter would allow ~0; keep at least half


class RailwayClient:
    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if not token:
            raise RailwayError(
                "authentication",
                "no Railway token: set `pulumi config set --secret llmstack:railway_token <token>` "
                "or the RAILWAY_TOKEN environment variable (an account or workspace token)",
            )
        self._api_url = api_url
        self._token = token
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._transport = transport
        self._timeout_s = timeout_s

    def execute(self, document: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        name = operation_name(document)
        waited = 0.0
        last = "no attempt made"
        for attempt in range(self._retry.max_attempts):
            try:
                return self._once(name, document, variables or {})
            except _RetryableError as retry:
                last = retry.message
                delay = retry.delay_s if retry.delay_s is not None else self._retry.backoff(attempt)
                delay = min(delay, self._retry.max_delay_s * 2)
                if attempt + 1 >= self._retry.max_attempts or waited + delay > self._retry.max_total_wait_s:
                    break
                self._sleep(delay)
                waited += delay
        raise RailwayError(name, f"still failing after {attempt + 1} attempts ({waited:.0f}s waited): {last}")

    def _once(self, name: str, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        payload = {"query": document, "variables": dict(variables), "operationName": name}
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        try:
            with httpx.Client(transport=self._transport, timeout=self._timeout_s) as http:
                response = http.post(self._api_url, json=payload, headers=headers)
        except httpx.TransportError as exc:
            # the exception text can carry the URL but never the token (it travels in a header)
            raise _RetryableError(f"network error: {type(exc).__name__}", None) from exc
        body = _json_or_none(response)
        if response.status_code == 429 or (response.status_code in (403, 503) and body is None):
            raise _RetryableError(f"rate limited (HTTP {response.status_code})", _retry_after(response))
        if response.status_code >= 500:
            raise _RetryableError(f"HTTP {response.status_code} from Railway", _retry_after(response))
        if body is None:
            raise RailwayError(
                name, f"HTTP {response.status_code} with a non-JSON body", status=response.status_code
            )
        errors = body.get("errors") or []
        if errors:
            message = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict)) or str(
                errors
            )
            if any(m in message.lower() for m in TRANSIENT_MESSAGES):
                raise _RetryableError(message, _retry_after(response))
            raise RailwayError(name, message, status=response.status_code)
        if response.status_code >= 400:
            raise RailwayError(name, f"HTTP {response.status_code}", status=response.status_code)
        data = body.get("data")
        if not isinstance(data, dict):
            raise RailwayError(name, "the response has no data")
        return data


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
