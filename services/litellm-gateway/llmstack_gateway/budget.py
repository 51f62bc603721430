"""The hard daily budget, as a LiteLLM callback (``litellm_settings.callbacks: [llmstack_gateway.budget.budget_hook]``).

Why our own hook: LiteLLM's proxy-wide ``max_budget`` is not enforced without a database, its provider and
deployment budgets count per process, and its budget alerts need a database (research/litellm.md). Here:

* before a request is sent, its worst-case cost is reserved: an upper bound of its input tokens (a token is at
  least one byte of UTF-8, plus an allowance per message and image) plus ``max_tokens``, priced at the highest
  price along its fallback chain. ``max_tokens`` is clamped to the catalog's ``max_output_tokens``, and set to it
  when the client sends none, so one request never reserves more than the catalog allows;
* a reservation that does not fit the day's cap is refused with 429 and says when the budget resets;
* on success the hold is settled to the cost LiteLLM computed; on failure it is released;
* so ``spent + reserved <= cap`` always holds, and the day's spend never exceeds the cap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from llmstack_gateway.counter import BudgetCounter, CounterUnavailable, MemoryCounter, RedisCounter, to_nano
from llmstack_gateway.settings import BudgetSettings, load_settings

log = logging.getLogger("llmstack.budget")

#: the request kinds this gateway prices; anything else (embeddings, images, audio) is refused
PRICED_CALLS = {"completion", "acompletion", "text_completion", "atext_completion", "anthropic_messages"}
PER_MESSAGE_TOKENS = 16
PER_IMAGE_TOKENS = 2_000
HOLD_KEY = "llmstack_budget_hold"


def input_token_bound(data: Mapping[str, Any]) -> int:
    """An upper bound on the prompt's tokens without a tokenizer: BPE tokens are at least one byte each."""
    tokens = 0
    for message in data.get("messages") or []:
        tokens += PER_MESSAGE_TOKENS
        content = message.get("content") if isinstance(message, Mapping) else message
        if isinstance(content, list):
            for part in content:
                if isinstance(part, Mapping) and part.get("type") in ("image_url", "image", "input_image"):
                    tokens += PER_IMAGE_TOKENS
                else:
                    tokens += len(json.dumps(part, ensure_ascii=False).encode())
        else:
            tokens += len(str(content or "").encode())
        for key in ("tool_calls", "name"):
            if isinstance(message, Mapping) and message.get(key):
                tokens += len(json.dumps(message[key], ensure_ascii=False).encode())
    for key in ("prompt", "system", "tools", "functions", "response_format"):
        if data.get(key):
            tokens += len(json.dumps(data[key], ensure_ascii=False).encode())
    return tokens


class DailyBudget(CustomLogger):
    def __init__(self, settings: BudgetSettings | None = None, counter: BudgetCounter | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._counter = counter
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def settings(self) -> BudgetSettings:
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    @property
    def counter(self) -> BudgetCounter:
        if self._counter is None:
            settings = self.settings
            if settings.shared_state == "redis":
                if not settings.redis_url:
                    raise CounterUnavailable("the stack shares state through Redis but REDIS_HOST is not set")
                self._counter = RedisCounter(settings.redis_url, settings.key_prefix)
            else:
                self._counter = MemoryCounter()
        return self._counter

    # -- before the call -------------------------------------------------------------------------------------
    async def async_pre_call_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        settings = self.settings
        if call_type not in PRICED_CALLS:
            raise HTTPException(
                status_code=400, detail={"error": f"this gateway only serves chat completions ({call_type})"}
            )
        group = settings.groups.get(str(data.get("model")))
        if group is None:
            return data  # an unknown model is refused by the router; nothing is spent
        requested = data.get("max_tokens") or data.get("max_completion_tokens")
        max_tokens = (
            group.max_output_tokens if not requested else min(int(requested), group.max_output_tokens)
        )
        data["max_tokens"] = max_tokens
        data.pop("max_completion_tokens", None)
        cost = input_token_bound(data) * group.input_per_token + max_tokens * group.output_per_token
        amount = max(1, to_nano(cost))
        day, resets = settings.day()
        hold = uuid.uuid4().hex
        try:
            reservation = await self.counter.reserve(day, hold, amount, to_nano(settings.daily_usd))
        except CounterUnavailable as exc:
            if settings.allow_when_counter_unavailable:
                log.warning("budget counter unavailable, admitting without a reservation: %s", exc)
                return data
            raise HTTPException(
                status_code=503,
                detail={
                    "error": "the daily budget counter is unreachable, so requests are refused (fail closed)"
                },
            ) from exc
        if not reservation.admitted:
            # spent plus what other requests hold right now: what stands between this request and the cap
            self._alert_in_background(
                day, resets, spent_nano=reservation.spent + reservation.reserved, refused=True
            )
            raise HTTPException(
                status_code=429,
                detail={
                    "error": f"the daily budget of ${settings.daily_usd:g} is spent; it resets at "
                    f"{resets.isoformat()} ({settings.timezone})",
                    "reason": "daily_budget_exhausted",
                    "budget_usd": settings.daily_usd,
                    "resets_at": resets.isoformat(),
                },
            )
        metadata = data.setdefault("metadata", {})
        metadata[HOLD_KEY] = {"day": day, "hold": hold, "amount": amount, "resets": resets.isoformat()}
        return data

    # -- after the call --------------------------------------------------------------------------------------
    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        hold = (data.get("metadata") or {}).get(HOLD_KEY)
        if not hold:
            return response
        cost = getattr(response, "_hidden_params", {}).get("response_cost")
        # an unknown cost settles at the reservation: never less than what may have been spent
        actual = hold["amount"] if cost is None else to_nano(float(cost))
        try:
            spent = await self.counter.settle(hold["day"], hold["hold"], actual)
        except CounterUnavailable:
            log.exception("could not settle a budget hold; it stays reserved for the day")
            return response
        if spent is not None:
            from datetime import datetime

            self._alert_in_background(hold["day"], datetime.fromisoformat(hold["resets"]), spent_nano=spent)
        return response

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> None:
        hold = (request_data.get("metadata") or {}).get(HOLD_KEY)
        if hold:
            try:
                await self.counter.release(hold["day"], hold["hold"])
            except CounterUnavailable:
                log.exception("could not release a budget hold; it stays reserved for the day")
        return

    # -- alerts ----------------------------------------------------------------------------------------------
    def _alert_in_background(self, day: str, resets: Any, *, spent_nano: int, refused: bool = False) -> None:
        if not self.settings.alert_url:
            return
        task = asyncio.get_running_loop().create_task(self._alert(day, resets, spent_nano, refused))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _alert(self, day: str, resets: Any, spent_nano: int, refused: bool) -> None:
        import httpx

        settings = self.settings
        cap = to_nano(settings.daily_usd)
        for threshold in settings.alert_thresholds:
            if spent_nano < threshold * cap and not (refused and threshold >= 1.0):
                continue
            if not await self.counter.claim_alert(day, threshold):
                continue
            payload = {
                "event": "budget_threshold",
                "stack": settings.stack,
                "day": day,
                "threshold": threshold,
                "spent_usd": round(spent_nano / 1e9, 6),
                "cap_usd": settings.daily_usd,
                "timezone": settings.timezone,
                "resets_at": resets.isoformat(),
                "refused": refused,
            }
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    response = await client.post(
                        str(settings.alert_url),
                        json=payload,
                        headers={"X-LLMStack-Alert-Secret": settings.alert_secret or ""},
                    )
                response.raise_for_status()
            except Exception:
                log.exception("budget alert at %s was not delivered; it will be retried", threshold)
                await self.counter.unclaim_alert(day, threshold)

    async def readiness(self) -> dict[str, str]:
        """Raises CounterUnavailable when the shared counter the stack requires is unreachable."""
        await self.counter.ping()
        return {"budget_counter": "redis" if self.settings.shared_state == "redis" else "memory"}


budget_hook = DailyBudget()


def _install_readiness_route() -> None:
    """``GET /health/ready``: 200 when the gateway can enforce its budget, 503 when its Redis is unreachable.

    LiteLLM's own ``/health/readiness`` does not know about our counter. The route is added to the proxy's app
    when the proxy loads this module (each worker does), ahead of LiteLLM's routes; it needs no key and never
    calls a provider.
    """
    import sys

    proxy = sys.modules.get("litellm.proxy.proxy_server")
    if proxy is None:
        return  # imported outside the proxy (unit tests)
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def ready(request: Request) -> JSONResponse:
        try:
            info = await budget_hook.readiness()
        except CounterUnavailable as exc:
            return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
        return JSONResponse({"status": "ready", **info})

    proxy.app.router.routes.insert(0, Route("/health/ready", ready, methods=["GET"]))


_install_readiness_route()
