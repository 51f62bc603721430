"""The hard daily budget, as a LiteLLM callback (``litellm_settings.callbacks: [llmstack_gateway.budget.budget_hook]``).

Why our own hook: LiteLLM's proxy-wide ``max_budget`` is not enforced without a database, its provider and
deployment budgets count per process, and its budget alerts need a database (research/litellm.md). Here:

* before a request is sent, its worst-case cost is reserved (``worst_case.py``: its output limit clamped to the
  catalog's, every choice it asks for, priced at the highest price along its fallback chain);
* a reservation that does not fit the day's cap is refused with 429: spent, held by requests in flight, the cap
  and when the budget resets;
* every hold ends with its request (which LiteLLM 1.108.7 callback fires when is in the service README):
  non-streamed requests settle in ``async_post_call_success_hook`` to the cost LiteLLM computed (the one its
  ``x-litellm-response-cost`` header carries), streams settle when the stream ends, completes or is cut off
  (``async_post_call_streaming_iterator_hook``), to the provider's usage or a bound of what was generated;
  failures release in ``async_post_call_failure_hook``; a hold left by a killed worker expires (counter.py);
* so ``spent + reserved <= cap`` always holds, and the day's spend never exceeds the cap. Crossing a threshold
  (or a refusal) sends an alert (``alerts.py``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import anyio
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from llmstack_gateway.alerts import BudgetAlerts
from llmstack_gateway.clients import caller_of, client_refusal, client_share
from llmstack_gateway.counter import BudgetCounter, CounterUnavailable, to_nano
from llmstack_gateway.endpoints import install_routes, not_served_message
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.pricing import deployment_prices, litellm_cost
from llmstack_gateway.redis_counter import RedisCounter
from llmstack_gateway.settings import BudgetSettings, GroupBudget, load_settings
from llmstack_gateway.streaming import StreamMeter
from llmstack_gateway.worst_case import OUTPUT_LIMIT_FIELD, clamp_output_limit, never_fits, worst_case

log = logging.getLogger("llmstack.budget")

#: LiteLLM's status for a request whose client disconnected before the answer
#: (proxy/common_request_processing.py, ``_await_llm_call_cancelling_on_disconnect``)
CLIENT_CLOSED_REQUEST = 499
#: OpenAI-style streams whose usage chunk the hook asks for (LiteLLM's stream generator strips it again when
#: ``_litellm_strip_stream_usage`` is set, proxy_server.py ``async_data_generator``)
CHAT_CALLS = {"completion", "acompletion", "text_completion", "atext_completion"}


@dataclass
class Hold:
    """One request's reservation, kept in the worker that admitted it (every hook of a request runs there)."""

    day: str
    hold: str
    amount: int
    resets: datetime
    group: GroupBudget
    input_bound: int
    started: float = field(default_factory=time.monotonic)
    #: the day's totals split (counter.py): the group asked for, the caller (a client's name, issue 13, or
    #: "operator" for the master key, as the records name it), and LiteLLM's logging object, which names the provider that served (after any fallback) at the end
    group_name: str = ""
    client_name: str = ""
    logging_obj: Any = None

    def split(self) -> dict[str, str]:
        details = getattr(self.logging_obj, "model_call_details", None)
        provider = details.get("custom_llm_provider") if isinstance(details, dict) else None
        return {"group": self.group_name, "provider": str(provider or ""), "client": self.client_name}


class DailyBudget(CustomLogger):
    def __init__(self, settings: BudgetSettings | None = None, counter: BudgetCounter | None = None) -> None:
        super().__init__()
        self._settings = settings
        self._counter = counter
        self._alerts = BudgetAlerts()
        #: open holds of this worker by LiteLLM call id (``data`` itself is forwarded to the provider, so the
        #: hold is not written into it: ``metadata`` is a real parameter of Anthropic's Messages API)
        self._holds: dict[str, Hold] = {}

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
                self._counter = RedisCounter(settings.redis_url, settings.key_prefix, settings.hold_expiry_s)
            else:
                self._counter = MemoryCounter(expiry_s=settings.hold_expiry_s)
        return self._counter

    def open_hold(self, call_id: str) -> Hold | None:
        return self._holds.get(call_id)

    # -- before the call -------------------------------------------------------------------------------------
    async def async_pre_call_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        settings = self.settings
        limit_field = OUTPUT_LIMIT_FIELD.get(call_type)
        if limit_field is None:
            raise HTTPException(status_code=404, detail={"error": not_served_message(data, call_type)})
        group = settings.groups.get(str(data.get("model")))
        if group is None:
            return data  # an unknown model is refused by the router; nothing is spent
        max_tokens = clamp_output_limit(data, limit_field, group)
        if data.get("stream") is True and call_type in CHAT_CALLS:
            self._ask_for_stream_usage(data)
        bound = worst_case(data, group, max_tokens)
        amount = bound.amount
        day, resets = settings.day()
        hold = uuid.uuid4().hex
        try:
            share = client_share(user_api_key_dict)
            reservation = await self.counter.reserve(day, hold, amount, to_nano(settings.daily_usd), share)
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
        if not reservation.admitted and reservation.client_share_spent and share is not None:
            raise HTTPException(
                status_code=429,
                detail=client_refusal(share, reservation, amount, resets, settings, limit_field),
            )
        if not reservation.admitted:
            # spent plus what other requests hold right now: what stands between this request and the cap
            self._alerts.notify(
                settings,
                self.counter,
                day,
                resets,
                spent_nano=reservation.spent + reservation.reserved,
                refused=True,
            )
            raise HTTPException(
                status_code=429,
                detail=self._refusal(reservation.spent, reservation.reserved, amount, resets, limit_field),
            )
        self._forget_stale_holds()
        call_id = str(data.get("litellm_call_id") or hold)
        data["litellm_call_id"] = call_id
        self._holds[call_id] = Hold(
            day,
            hold,
            amount,
            resets,
            group,
            bound.input_bound,
            group_name=str(data.get("model")),
            client_name=caller.name if (caller := caller_of(user_api_key_dict)) is not None else "",
            logging_obj=data.get("litellm_logging_obj"),
        )
        return data

    @staticmethod
    def _ask_for_stream_usage(data: dict[str, Any]) -> None:
        """The provider's usage on the stream's last chunk; LiteLLM strips it again if the client did not ask.

        The same switch LiteLLM's proxy flips for OpenAI deployments (``stream_usage_tracking_updates``), here
        for every provider, so a stream settles to the provider's count rather than a bound.
        """
        options = data.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            return
        data["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        data["_litellm_strip_stream_usage"] = True

    def _refusal(
        self, spent: int, reserved: int, amount: int, resets: datetime, limit_field: str
    ) -> dict[str, Any]:
        settings = self.settings
        if amount > to_nano(settings.daily_usd):
            # waiting for the reset cannot help: say what can
            error = f"the daily budget of ${settings.daily_usd:g} cannot cover this request {never_fits(amount, limit_field)}"
        else:
            error = (
                f"the daily budget of ${settings.daily_usd:g} cannot cover this request (up to "
                f"${amount / 1e9:.6f}): ${spent / 1e9:.6f} spent, ${reserved / 1e9:.6f} held by requests in "
                f"flight; it resets at {resets.isoformat()} ({settings.timezone})"
            )
        return {
            "error": error,
            "reason": "daily_budget_exhausted",
            "budget_usd": settings.daily_usd,
            "spent_usd": round(spent / 1e9, 9),
            "held_usd": round(reserved / 1e9, 9),
            "request_usd": round(amount / 1e9, 9),
            "resets_at": resets.isoformat(),
            "timezone": settings.timezone,
        }

    def _forget_stale_holds(self) -> None:
        """Drop this worker's records of holds the counter has expired (requests that never reported back)."""
        oldest = time.monotonic() - self.settings.hold_expiry_s
        for call_id in [c for c, h in self._holds.items() if h.started < oldest]:
            del self._holds[call_id]

    # -- when the request ends -------------------------------------------------------------------------------
    async def _settle(self, call_id: str, actual: int | None) -> None:
        """Settle (``actual`` nano-USD) or release (None) the request's hold, exactly once."""
        hold = self._holds.pop(call_id, None)
        if hold is None:
            return
        try:
            if actual is None:
                await self.counter.release(hold.day, hold.hold)
                return
            spent = await self.counter.settle(hold.day, hold.hold, actual, hold.split())
        except CounterUnavailable:
            log.exception("could not end a budget hold; it expires after %ss", self.settings.hold_expiry_s)
            return
        if spent is not None:
            self._alerts.notify(self.settings, self.counter, hold.day, hold.resets, spent_nano=spent)

    async def _keep_alive(self, hold: Hold) -> None:
        """A live stream refreshes its hold's start, so only holds of dead requests expire; never breaks the stream."""
        try:
            await self.counter.touch(hold.day, hold.hold)
        except CounterUnavailable:
            log.warning("could not refresh a streaming hold; it may expire before the stream ends")

    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        call_id = str(data.get("litellm_call_id"))
        hold = self._holds.get(call_id)
        if hold is None or data.get("stream") is True:
            return response  # streams end in the iterator hook below
        cost = litellm_cost(response, data.get("litellm_logging_obj"))
        # an unknown cost settles at the reservation: never less than what may have been spent
        await self._settle(call_id, hold.amount if cost is None else to_nano(cost))
        return response

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> None:
        call_id = str(request_data.get("litellm_call_id"))
        hold = self._holds.get(call_id)
        if hold is not None and getattr(original_exception, "status_code", None) == CLIENT_CLOSED_REQUEST:
            # the client left while the provider was working: LiteLLM cancels its call (499), but the provider
            # may bill what it already generated and no usage comes back, so the reservation is the honest bound
            await self._settle(call_id, hold.amount)
            return
        await self._settle(call_id, None)

    async def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        """Passes every chunk through, measures it, and settles when the stream ends however it ends.

        LiteLLM runs this for streamed chat completions, completions, messages and responses alike; on a client
        disconnect the proxy closes it (GeneratorExit or CancelledError at the ``yield``), so ``finally`` runs.
        The settlement is shielded from that cancellation, as LiteLLM's own stream cleanup is.
        """
        call_id = str(request_data.get("litellm_call_id"))
        hold = self._holds.get(call_id)
        if hold is None:
            async for chunk in response:
                yield chunk
            return
        meter = StreamMeter(input_bound=hold.input_bound)
        heartbeat = max(1.0, self.settings.hold_expiry_s / 4)
        touched = time.monotonic()
        completed = False
        try:
            async for chunk in response:
                meter.observe(chunk)
                if time.monotonic() - touched > heartbeat:
                    touched = time.monotonic()
                    await self._keep_alive(hold)
                yield chunk
            completed = True
        finally:
            with anyio.CancelScope(shield=True):
                logging_obj = request_data.get("litellm_logging_obj")
                await meter.finish(logging_obj, completed)
                prices = deployment_prices(logging_obj, self.settings) or (
                    hold.group.input_per_token,
                    hold.group.output_per_token,
                )
                generated = None if meter.generated_nothing else to_nano(meter.cost(*prices))
                await self._settle(call_id, generated)

    async def readiness(self) -> dict[str, str]:
        """Raises CounterUnavailable when the shared counter the stack requires is unreachable."""
        await self.counter.ping()
        return {"budget_counter": "redis" if self.settings.shared_state == "redis" else "memory"}


budget_hook = DailyBudget()


async def _ready() -> tuple[int, dict[str, str]]:
    """``GET /health/ready``: 200 when the gateway can enforce its budget, 503 when its Redis is unreachable.

    LiteLLM's own ``/health/readiness`` does not know about our counter; this needs no key, calls no provider.
    """
    try:
        return 200, {"status": "ready", **(await budget_hook.readiness())}
    except CounterUnavailable as exc:
        return 503, {"status": "unavailable", "reason": str(exc)}


install_routes(_ready)
