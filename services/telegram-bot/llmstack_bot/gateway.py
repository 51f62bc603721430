"""The only model access the bot has: the LiteLLM gateway's OpenAI-compatible API, with bounded retries."""

from __future__ import annotations

import asyncio
import json
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import openai

from llmstack_bot.metrics import BotMetrics, Stopwatch
from llmstack_bot.tracing import BotTracing

#: the gateway's budget refusals (llmstack_gateway/budget.py, clients.py): the stack's cap, or this client's share
BUDGET_REASONS = frozenset({"daily_budget_exhausted", "client_share_exhausted"})


class BudgetExhausted(Exception):  # noqa: N818 (a state the user is told about, not a bug)
    """The gateway refused for the budget: the stack's daily cap, or this bot's own share of it (``reason``).

    ``never_fits``: the request's worst case is more than the whole cap or share, so the reset will not help.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "daily_budget_exhausted",
        resets_at: str | None = None,
        timezone: str | None = None,
        never_fits: bool = False,
    ) -> None:
        super().__init__(message)
        self.reason, self.resets_at, self.timezone, self.never_fits = reason, resets_at, timezone, never_fits


def budget_refusal(exc: openai.APIStatusError) -> BudgetExhausted | None:
    """The gateway's 429 for the budget, from the figures its body carries; None for any other 429.

    LiteLLM passes the budget hook's refusal on as ``error.provider_specific_fields`` (measured with 1.108.7: the
    hook's ``HTTPException`` detail, with ``reason``, ``resets_at``, ``timezone``, ``request_usd`` and the cap as
    ``budget_usd`` or the share as ``share_usd``). A body without them (an older gateway) is read from its text.
    """
    try:
        error = json.loads(exc.response.text)["error"]
    except (ValueError, KeyError, TypeError):
        error = {}
    message = str(error.get("message") or exc) if isinstance(error, dict) else str(exc)
    fields = error.get("provider_specific_fields") if isinstance(error, dict) else None
    if isinstance(fields, dict) and fields.get("reason") in BUDGET_REASONS:
        cap = fields.get("budget_usd", fields.get("share_usd"))
        needed = fields.get("request_usd")
        return BudgetExhausted(
            message,
            reason=str(fields["reason"]),
            resets_at=str(fields["resets_at"]) if fields.get("resets_at") else None,
            timezone=str(fields["timezone"]) if fields.get("timezone") else None,
            never_fits=isinstance(cap, (int, float)) and isinstance(needed, (int, float)) and needed > cap,
        )
    if "daily budget" in message:
        resets = message.split("resets at", 1)[1].strip() if "resets at" in message else None
        return BudgetExhausted(message, resets_at=resets)
    return None


class GatewayUnavailable(Exception):  # noqa: N818
    pass


@dataclass(frozen=True)
class Answer:
    text: str
    cost_usd: float
    served_by: str


class GatewayClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        attempts: int = 3,
        timeout_s: float = 120,
        backoff_s: float = 1.0,
        tracing: BotTracing | None = None,
        metrics: BotMetrics | None = None,
    ) -> None:
        self._client = openai.AsyncOpenAI(
            base_url=f"{base_url.rstrip('/')}/v1", api_key=api_key or "none", max_retries=0, timeout=timeout_s
        )
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._tracing = tracing
        self._metrics = metrics

    async def complete(self, route: str, messages: list[dict[str, Any]], user: str | None = None) -> Answer:
        """One chat completion, retried; a client span whose W3C traceparent the gateway continues."""
        watch, outcome = Stopwatch(), "unavailable"
        span: AbstractContextManager[dict[str, str]] = (
            self._tracing.gateway_call(route) if self._tracing else nullcontext({})
        )
        try:
            with span as headers:
                answer = await self._complete(route, messages, user, headers)
            outcome = "ok"
            return answer
        except BudgetExhausted:
            outcome = "budget"
            raise
        finally:
            if self._metrics is not None:
                self._metrics.gateway_latency.labels(outcome).observe(watch.seconds())

    async def _complete(
        self, route: str, messages: list[dict[str, Any]], user: str | None, headers: dict[str, str]
    ) -> Answer:
        last: Exception | None = None
        for attempt in range(self._attempts):
            try:
                # messages are the OpenAI wire shapes (text, or content parts with an image): plain dicts here
                raw = await self._client.chat.completions.with_raw_response.create(  # type: ignore[call-overload]
                    model=route,
                    messages=messages,
                    # the end user, for the gateway's logs and abuse tracking
                    **({"user": user} if user else {}),
                    extra_headers=headers or None,
                )
                completion = raw.parse()
                cost = raw.headers.get("x-litellm-response-cost")
                return Answer(
                    text=completion.choices[0].message.content or "",
                    cost_usd=float(cost) if cost else 0.0,
                    served_by=raw.headers.get("x-litellm-model-id", completion.model),
                )
            except openai.RateLimitError as exc:
                refusal = budget_refusal(exc)
                if refusal is not None:
                    raise refusal from exc  # trying again cannot help before the reset
                last = exc
            except (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError) as exc:
                last = exc
            except openai.APIStatusError as exc:
                if exc.status_code in (502, 503, 504):
                    last = exc
                else:
                    raise GatewayUnavailable(f"the gateway refused the request ({exc.status_code})") from exc
            await asyncio.sleep(self._backoff_s * 2**attempt)
        raise GatewayUnavailable(f"the gateway did not answer after {self._attempts} attempts") from last

    async def close(self) -> None:
        await self._client.close()
