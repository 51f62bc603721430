"""One structured JSON line per request on stdout, and the request's metrics (``litellm_settings.callbacks``).

Listed after the budget hook, so each of our hooks runs once the budget has settled or released the request's hold
(LiteLLM runs the callbacks' hooks in list order, and wraps streams in that order: ours is the outer layer):

* a plain answer is recorded in ``async_post_call_success_hook``, its cost read exactly as the budget reads it
  (``pricing.litellm_cost``: the ``x-litellm-response-cost`` value);
* a stream is recorded when its last chunk has gone (or the client left), measured the way the budget measures it
  (``streaming.StreamMeter``, priced at the deployment that served);
* a refusal (our hooks' 403 and 429s, each with its ``reason``; a wrong key's 401), a failure and a client gone
  before the answer (499) in ``async_post_call_failure_hook``;
* each deployment attempt (``attempts.py``) starts with ``log_pre_api_call`` and may fail in
  ``async_log_failure_event``; a refusal has none (LiteLLM's events for it name no deployment).

The record is assembled in ``request_record.py``; the prompt and the answer go into it only when the catalog's
``observability.log_content`` is on (``content.py``), and the line stays within ``content.PIPE_BUF`` either way.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from llmstack_gateway import metrics
from llmstack_gateway.attempts import Attempts, status_of
from llmstack_gateway.budget import CLIENT_CLOSED_REQUEST, DailyBudget, budget_hook
from llmstack_gateway.budget_api import install_budget_routes
from llmstack_gateway.clients import caller_of
from llmstack_gateway.content import (
    PIPE_BUF,
    AnswerText,
    answer_text,
    content_section,
    logs_content,
    request_input,
)
from llmstack_gateway.counter import CounterUnavailable, to_nano
from llmstack_gateway.endpoints import BODY_REFUSAL_REASON, body_refusal
from llmstack_gateway.pricing import deployment_prices, litellm_cost
from llmstack_gateway.request_record import assemble, usage_of
from llmstack_gateway.settings import load_config
from llmstack_gateway.streaming import StreamMeter

log = logging.getLogger("llmstack.records")

#: requests in flight or just ended whose attempts/holds we remember; more would mean a leak, so the oldest go
MAX_TRACKED = 10_000


@dataclass
class Tracked:
    """What a request's later hooks need from its start: the budget's hold (gone from the budget once settled)."""

    day: str | None = None
    held_nano: int = 0
    input_bound: int = 0
    attempts: Attempts = field(default_factory=Attempts)
    #: when our pre-call hook saw it: the latency's start when LiteLLM's logging object has none (a failure)
    started: float | None = None


#: a key auth.py does not know (401): the refusal an operator sees someone probing with an old or wrong key by
INVALID_KEY_REASON = "invalid_key"


def refusal_reason(exception: BaseException, user_api_key_dict: Any) -> str | None:
    """Why our hooks refused the request (the ``reason`` their 403s and 429s carry), None for a failure.

    A wrong or missing key is auth.py's 401, an ``HTTPException`` with no caller identified: LiteLLM's auth logs it
    as a failure of the request, with a call id it makes up (``proxy/utils.py``,
    ``_handle_logging_proxy_only_error``: ``request_data.setdefault("litellm_call_id", ...)``), so it is recorded,
    refused. A provider rejecting our provider key is a 401 too, but LiteLLM's ``AuthenticationError``.
    """
    detail = getattr(exception, "detail", None)
    if isinstance(detail, Mapping) and detail.get("reason"):
        return str(detail["reason"])
    if (
        isinstance(exception, HTTPException)
        and exception.status_code == 401
        and _client(user_api_key_dict) is None
    ):
        return INVALID_KEY_REASON
    return None


def _client(user_api_key_dict: Any) -> str | None:
    """The caller auth.py named (a client, or the operator), None where no auth object came with the hook."""
    caller = caller_of(user_api_key_dict)
    return caller.name if caller is not None else None


class RequestRecords(CustomLogger):
    def __init__(
        self,
        write: Callable[[str], Any] | None = None,
        budget: DailyBudget | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        #: the budget hook the proxy loaded (the module's own): its open holds and its counter
        self._budget = budget or budget_hook
        #: the rendered config (read once, when first needed): whether the records carry content
        self._config = config
        self._log_content: bool | None = None
        #: the catalog's group and route names (read once, when first needed): the only group labels metrics get
        self._names: frozenset[str] | None = None
        self._tracked: OrderedDict[str, Tracked] = OrderedDict()
        self._recorded: OrderedDict[str, None] = OrderedDict()
        #: one ``write`` per line: a line under the pipe buffer size never interleaves with another worker's
        self._write = write or (lambda line: os.write(1, line.encode()))

    @property
    def log_content(self) -> bool:
        if self._log_content is None:
            self._log_content = logs_content(self._config if self._config is not None else load_config())
        return self._log_content

    def _track(self, call_id: str) -> Tracked:
        tracked = self._tracked.get(call_id)
        if tracked is None:
            tracked = self._tracked[call_id] = Tracked()
            while len(self._tracked) > MAX_TRACKED:
                self._tracked.popitem(last=False)
        return tracked

    # -- while the request runs ------------------------------------------------------------------------------
    async def async_pre_call_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        call_id = data.get("litellm_call_id")
        hold = self._budget.open_hold(str(call_id)) if call_id else None
        if hold is not None:
            tracked = self._track(str(call_id))
            tracked.day, tracked.held_nano, tracked.input_bound = hold.day, hold.amount, hold.input_bound
            tracked.started = time.time()
        return data

    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """A deployment attempt starts (the primary, then each fallback), before its provider call."""
        call_id = kwargs.get("litellm_call_id")
        if call_id:
            self._track(str(call_id)).attempts.start(kwargs)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A deployment attempt failed (LiteLLM logs the first failure of a request only, see attempts.py)."""
        call_id = kwargs.get("litellm_call_id")
        if call_id:
            self._track(str(call_id)).attempts.fail(kwargs, kwargs.get("exception"))

    # -- when it ends ----------------------------------------------------------------------------------------
    async def async_post_call_success_hook(
        self, data: dict[str, Any], user_api_key_dict: Any, response: Any
    ) -> Any:
        if data.get("stream") is True:
            return response  # recorded when the stream ends
        logging_obj = data.get("litellm_logging_obj")
        cost = litellm_cost(response, logging_obj)
        tracked = self._tracked.get(str(data.get("litellm_call_id")))
        cost_nano = (tracked.held_nano if tracked else 0) if cost is None else to_nano(cost)
        await self._record(
            data,
            status=200,
            cost_nano=cost_nano,
            tokens=usage_of(response),
            first_chunk=None,
            client=_client(user_api_key_dict),
            answer=answer_text(response) if self.log_content else None,
        )
        return response

    async def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        tracked = self._tracked.get(str(request_data.get("litellm_call_id")))
        answer = AnswerText() if self.log_content else None
        meter = StreamMeter(
            input_bound=tracked.input_bound if tracked else 0,
            on_text=answer.add if answer is not None else None,
        )
        first_chunk: float | None = None
        completed = False
        try:
            async for chunk in response:
                if first_chunk is None:
                    first_chunk = time.time()
                meter.observe(chunk)
                yield chunk
            completed = True
        finally:
            with anyio.CancelScope(shield=True):
                # the inner layer (the budget's) settles in its own ``finally``: close it first, so the record
                # shows the budget after this request
                aclose = getattr(response, "aclose", None)
                if aclose is not None:
                    try:
                        await aclose()
                    except Exception:
                        log.debug("the inner stream failed while closing", exc_info=True)
                logging_obj = request_data.get("litellm_logging_obj")
                await meter.finish(logging_obj, completed)
                prices = deployment_prices(logging_obj, self._budget.settings)
                if prices is None:
                    group = self._budget.settings.groups.get(str(request_data.get("model")))
                    prices = (group.input_per_token, group.output_per_token) if group else (0.0, 0.0)
                cost_nano = 0 if meter.generated_nothing else to_nano(meter.cost(*prices))
                await self._record(
                    request_data,
                    status=200 if completed else CLIENT_CLOSED_REQUEST,
                    cost_nano=cost_nano,
                    tokens=None if meter.generated_nothing else meter.tokens(),
                    first_chunk=first_chunk,
                    client=_client(user_api_key_dict),
                    answer=answer,
                )

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> HTTPException | None:
        refused = body_refusal(original_exception)
        if refused is not None:
            # refused in LiteLLM's auth, before any deployment was tried (the failure event LiteLLM logs for it
            # named a deployment all the same): the record says so, and the client gets the 400 (endpoints.py)
            self._tracked.pop(str(request_data.get("litellm_call_id")), None)
            original_exception = refused
        status = status_of(original_exception) or 500
        reason = refusal_reason(original_exception, user_api_key_dict)
        if refused is not None:
            reason = BODY_REFUSAL_REASON
        tracked = self._tracked.get(str(request_data.get("litellm_call_id")))
        # the budget settles a client gone before a plain answer at its reservation, and releases every other
        cost_nano = tracked.held_nano if tracked and status == CLIENT_CLOSED_REQUEST else 0
        await self._record(
            request_data,
            status=status,
            cost_nano=cost_nano,
            tokens=None,
            first_chunk=None,
            refusal=str(reason) if reason else None,
            exception=original_exception,
            client=_client(user_api_key_dict),
            route=getattr(user_api_key_dict, "request_route", None),
        )
        return refused  # LiteLLM answers the client with the first exception a failure hook returns

    # -- the record ------------------------------------------------------------------------------------------
    async def _record(
        self,
        data: Mapping[str, Any],
        *,
        status: int,
        cost_nano: int,
        tokens: tuple[int, int] | None,
        first_chunk: float | None,
        refusal: str | None = None,
        exception: BaseException | None = None,
        client: str | None = None,
        answer: AnswerText | None = None,
        route: str | None = None,
    ) -> None:
        if not data.get("litellm_call_id"):
            return  # LiteLLM logged nothing of it as a request (outside its LLM routes): nothing ran, nothing spent
        call_id = str(data.get("litellm_call_id"))
        if call_id in self._recorded:
            return  # LiteLLM also calls the failure hook after a stream that ended: one record per request
        self._recorded[call_id] = None
        while len(self._recorded) > MAX_TRACKED:
            self._recorded.popitem(last=False)
        tracked = self._tracked.pop(call_id, None) or Tracked()
        record = assemble(
            data,
            tracked.attempts,
            call_id=call_id,
            status=status,
            cost_nano=cost_nano,
            tokens=tokens,
            first_chunk=first_chunk,
            refusal=refusal,
            exception=exception,
            client=client,
            started=tracked.started,
            route=route,
            now=time.time(),
        )
        record["budget"] = await self._budget_after(tracked.day)
        line = json.dumps(record, separators=(",", ":"))
        if self.log_content:
            room = PIPE_BUF - len(line) - 1  # the newline
            record["content"] = content_section(request_input(data), answer or AnswerText(), room)
            line = json.dumps(record, separators=(",", ":"))
        self._write(line + "\n")
        self._observe(record)

    async def _budget_after(self, day: str | None) -> dict[str, Any]:
        settings = self._budget.settings
        today, _ = settings.day()
        try:
            spent, held = await self._budget.counter.spent(day or today)
        except CounterUnavailable:
            return {"day": day or today, "cap_usd": settings.daily_usd, "counter": "unreachable"}
        return {
            "day": day or today,
            "spent_usd": round(spent / 1e9, 9),
            "held_usd": round(held / 1e9, 9),
            "cap_usd": settings.daily_usd,
        }

    def _known_names(self) -> frozenset[str]:
        if self._names is None:
            config = self._config if self._config is not None else load_config()
            routes = config.get("llmstack_routes")
            self._names = frozenset(self._budget.settings.groups) | frozenset(
                routes if isinstance(routes, Mapping) else ()
            )
        return self._names

    def _observe(self, record: Mapping[str, Any]) -> None:
        # a label is a name the catalog knows: a refused request's ``model`` is whatever the caller wrote (anyone
        # may send one with a wrong key), and each distinct label would be new series in every worker's files
        group = (
            record["group"]
            if record["group"] in self._known_names()
            else "other"
            if record["group"]
            else "unknown"
        )
        provider = record["provider"] or "none"
        endpoint = record["endpoint"]
        metrics.REQUESTS.labels(group, provider, endpoint, record["outcome"]).inc()
        for attempt in record["attempts"]:
            if attempt["outcome"] not in ("ok", "client_closed"):
                metrics.ERRORS.labels(
                    attempt.get("group") or "unknown",
                    attempt.get("provider") or "unknown",
                    attempt["outcome"],
                ).inc()
        if record["outcome"] == "fallback":
            metrics.FALLBACKS.labels(group, provider).inc()
        if record["input_tokens"] is not None:
            metrics.TOKENS.labels(group, provider, "input").inc(record["input_tokens"])
            metrics.TOKENS.labels(group, provider, "output").inc(record["output_tokens"] or 0)
        if record["cost_usd"]:
            metrics.COST.labels(group, provider).inc(record["cost_usd"])
        if record["latency_s"] is not None:
            streamed = "true" if record["streamed"] else "false"
            metrics.LATENCY.labels(group, endpoint, streamed).observe(record["latency_s"])
        if record.get("ttft_s") is not None:
            metrics.FIRST_TOKEN.labels(group, endpoint).observe(record["ttft_s"])


request_records = RequestRecords()
install_budget_routes()
