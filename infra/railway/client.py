"""A small GraphQL client for Railway: one connection, one pace, bounded retries, Railway's own messages.

Why not a GraphQL library: gql's transports would add a second HTTP stack for behaviours we must control
exactly (Retry-After, Cloudflare's non-JSON 429/403/1015, message-based transient errors, token-free errors).

What the real API needs, and where it is written down:
- Identify the caller. Cloudflare limits anonymous bursts hard; the Terraform provider adds
  ``?source=terraform_provider_railway`` to the URL for this (terraform-community-providers/
  terraform-provider-railway ``internal/provider/provider.go``, PR #55) and the CLI sends an ``x-source``
  header (railwayapp/cli ``src/client.rs``). We do both, as ``llmstack``.
- One connection: a process-wide ``httpx.Client`` (keep-alive), since one provider process serves every
  resource of a run (``pulumi/dynamic/__main__.py``).
- Rate limits: HTTP 429 with ``Retry-After`` ("Backboard sets Retry-After on every 429", railwayapp/cli
  ``src/client.rs``), and Cloudflare's HTML / "error code: 1015" pages (TF issues #43, #63).
- Eventual consistency: right after ``serviceCreate`` the instance can answer "ServiceInstance not found"
  (TF issue #82; jamesprnich/terraform-provider-railway ``internal/provider/helpers.go``
  ``retryReadAfterCreateContext``). Callers that just created something pass ``retry_not_found=True``.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from infra.railway.operations import operation_name
from infra.railway.pacing import RequestPace, shared_pace
from infra.railway.tokens import RailwayToken

#: how this client names itself to Railway (URL ``source`` and ``x-source`` header)
SOURCE = "llmstack"

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
#: transient answers that do not say whether the mutation was carried out
AMBIGUOUS_MESSAGES = ("problem processing request", "operation is already in progress")
NOT_FOUND_MESSAGES = ("not found", "could not find", "does not exist")
#: Railway answers "Not Authorized" for many resources that are already deleted (railwayapp/cli
#: src/client.rs maps it to an auth error; research/railway.md §1); only trusted when deleting
GONE_ON_DELETE_MESSAGES = (*NOT_FOUND_MESSAGES, "not authorized")
#: Cloudflare's rate-limit page ("error code: 1015"), whatever the HTTP status
CLOUDFLARE_RATE_LIMIT = "error code: 1015"
#: Railway's answer to a token that may not do what was asked (railwayapp/cli src/client.rs maps it to "run
#: railway login"); a project token sent as Bearer gets exactly this on its first call
NOT_AUTHORIZED = "not authorized"


class RailwayError(Exception):
    """A failed Railway call, with Railway's message and never the token."""

    def __init__(
        self, operation: str, message: str, *, status: int | None = None, ambiguous: bool = False
    ) -> None:
        self.operation = operation
        self.railway_message = message
        self.status = status
        #: the request may have been carried out although no answer said so (a create must look before retrying)
        self.ambiguous = ambiguous
        super().__init__(f"Railway {operation} failed: {message}")

    @property
    def is_not_found(self) -> bool:
        return any(m in self.railway_message.lower() for m in NOT_FOUND_MESSAGES)

    @property
    def is_gone(self) -> bool:
        """True when a delete may treat the resource as already deleted."""
        return any(m in self.railway_message.lower() for m in GONE_ON_DELETE_MESSAGES)


#: what to do when the retries of a run are spent, by what kept failing
NEXT_WHEN_RATE_LIMITED = (
    "Railway's edge (Cloudflare) keeps refusing this address; after a sustained burst its 1015 block can last "
    "hours (terraform-provider-railway issues #43, #63). Wait, then run `pulumi up` again (it adopts what this "
    "run created); LLMSTACK_RAILWAY_RPS lowers the pace"
)
NEXT_WHEN_BUSY = (
    "Railway kept answering that it is busy or asks to wait (the message above); run `pulumi up` again in a "
    "minute (it adopts what this run created)"
)
NEXT_WHEN_FAILING = (
    "Railway is failing or unreachable (status.railway.com); run `pulumi up` again later (it adopts what "
    "this run created)"
)


class _RetryableError(Exception):
    def __init__(
        self,
        message: str,
        delay_s: float | None,
        *,
        ambiguous: bool = False,
        next_step: str = NEXT_WHEN_FAILING,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.delay_s = delay_s
        #: what to do if this is still the answer when the retries are spent (edge limit, busy, failing)
        self.next_step = next_step
        #: Railway may have done it (a 5xx, a lost answer); a rate limit or a refused connection means it did not
        self.ambiguous = ambiguous


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
    #: "not found" right after a create clears within seconds (TF issue #82); a real absence must fail fast
    not_found_attempts: int = 6

    def backoff(self, attempt: int) -> float:
        delay: float = min(self.max_delay_s, self.base_delay_s * 2.0**attempt)
        return delay * (0.5 + random.random() / 2)  # full jitter would allow ~0; keep at least half


def identified_url(api_url: str) -> str:
    """The API URL with ``source=llmstack`` in its query string (kept if the URL already has one)."""
    parts = urlsplit(api_url)
    if "source=" in parts.query:
        return api_url
    query = f"{parts.query}&source={SOURCE}" if parts.query else f"source={SOURCE}"
    return urlunsplit(parts._replace(query=query))


_connections: dict[float, httpx.Client] = {}
_connections_lock = threading.Lock()


def shared_connection(timeout_s: float) -> httpx.Client:
    """The process-wide keep-alive client (httpx.Client is thread-safe for concurrent requests)."""
    with _connections_lock:
        client = _connections.get(timeout_s)
        if client is None:
            client = _connections[timeout_s] = httpx.Client(
                timeout=timeout_s, headers={"x-source": SOURCE, "user-agent": SOURCE}
            )
        return client


class RailwayClient:
    def __init__(
        self,
        api_url: str,
        token: str | RailwayToken,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        pace: RequestPace | None = None,
    ) -> None:
        value = token.value if isinstance(token, RailwayToken) else token
        if not value:
            raise RailwayError(
                "authentication",
                "no Railway token: set `pulumi config set --secret llmstack:railway_token <token>` "
                "or the RAILWAY_API_TOKEN environment variable (an account or workspace token)",
            )
        #: where the token came from, named when Railway refuses it (the value is never shown)
        self._token_origin = f"token from {token.origin}" if isinstance(token, RailwayToken) else "token"
        self._url = identified_url(api_url)
        self._headers = {
            "Authorization": f"Bearer {value}",
            "Content-Type": "application/json",
            "x-source": SOURCE,
        }
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._pace = pace or shared_pace()
        # a test's transport gets its own client; everything else shares the process's connection
        self._http = (
            httpx.Client(transport=transport, timeout=timeout_s)
            if transport is not None
            else shared_connection(timeout_s)
        )

    def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        *,
        retry_not_found: bool = False,
        creates: bool = False,
    ) -> dict[str, Any]:
        """Run one operation. ``retry_not_found``: the object was just created and may not be visible yet.
        ``creates``: the mutation creates something, so a failure that may have created it is not retried
        blindly (it would create a duplicate); it is raised with ``ambiguous`` for the caller to look first."""
        name = operation_name(document)
        waited = 0.0
        last = "no attempt made"
        next_step = NEXT_WHEN_FAILING
        attempt = 0
        for attempt in range(self._retry.max_attempts):
            try:
                return self._once(name, document, variables or {})
            except RailwayError as exc:
                if not (retry_not_found and exc.is_not_found):
                    raise
                if attempt + 1 >= self._retry.not_found_attempts:
                    raise RailwayError(
                        name,
                        f"{exc.railway_message} (still, after {attempt + 1} attempts)",
                        status=exc.status,
                    ) from None
                last, delay = exc.railway_message, self._retry.backoff(attempt)
            except _RetryableError as retry:
                if creates and retry.ambiguous:
                    raise RailwayError(name, retry.message, ambiguous=True) from None
                last = retry.message
                next_step = retry.next_step
                delay = retry.delay_s if retry.delay_s is not None else self._retry.backoff(attempt)
                delay = min(delay, self._retry.max_delay_s * 2)
            if attempt + 1 >= self._retry.max_attempts or waited + delay > self._retry.max_total_wait_s:
                break
            self._sleep(delay)
            waited += delay
        raise RailwayError(
            name,
            f"still failing after {attempt + 1} attempts ({waited:.0f}s waited): {last}. Next: {next_step}",
        )

    def _once(self, name: str, document: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        payload = {"query": document, "variables": dict(variables), "operationName": name}
        self._pace.acquire()
        try:
            response = self._http.post(self._url, json=payload, headers=self._headers)
        except httpx.TransportError as exc:
            # the exception text can carry the URL but never the token (it travels in a header); a request
            # that never connected was not carried out, one whose answer was lost may have been
            sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
            raise _RetryableError(f"network error: {type(exc).__name__}", None, ambiguous=sent) from exc
        body = _json_or_none(response)
        if _rate_limited(response, body):
            raise _RetryableError(
                f"rate limited (HTTP {response.status_code}{_cloudflare_code(response)})",
                _retry_after(response),
                next_step=NEXT_WHEN_RATE_LIMITED,
            )
        if response.status_code >= 500:
            raise _RetryableError(
                f"HTTP {response.status_code} from Railway", _retry_after(response), ambiguous=True
            )
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
                # "Problem processing request" says nothing about whether it was done; cooldowns say it was not
                unclear = any(m in message.lower() for m in AMBIGUOUS_MESSAGES)
                raise _RetryableError(
                    message, _retry_after(response), ambiguous=unclear, next_step=NEXT_WHEN_BUSY
                )
            if NOT_AUTHORIZED in message.lower():
                message += self._refused_token_hint()
            raise RailwayError(name, message, status=response.status_code)
        if response.status_code >= 400:
            raise RailwayError(name, f"HTTP {response.status_code}", status=response.status_code)
        data = body.get("data")
        if not isinstance(data, dict):
            raise RailwayError(name, "the response has no data")
        return data

    def _refused_token_hint(self) -> str:
        # Railway's tokens are all UUIDs: a project token pasted where an account or workspace token belongs
        # cannot be told apart before this answer (infra/railway/tokens.py), so the answer says it
        return (
            f" (Railway refused the {self._token_origin}. It must be an account or workspace token "
            "(railway.com/account/tokens) of the workspace that holds this stack's project "
            "(llmstack:railway.workspace_id); a project token, from a project's Settings > Tokens, "
            "is refused exactly like this.)"
        )


def _rate_limited(response: httpx.Response, body: dict[str, Any] | None) -> bool:
    if response.status_code == 429:
        return True
    if body is None and CLOUDFLARE_RATE_LIMIT in response.text.lower():
        return True
    # Cloudflare's "Access denied" / "temporarily unavailable" pages are HTML, never GraphQL JSON
    return response.status_code in (403, 503) and body is None


def _cloudflare_code(response: httpx.Response) -> str:
    return ", Cloudflare 1015" if CLOUDFLARE_RATE_LIMIT in response.text.lower() else ""


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
