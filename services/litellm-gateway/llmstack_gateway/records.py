"""One structured JSON line per request on stdout, and the request's metrics (``litellm_settings.callbacks``).

Listed after the budget hook, so each of our hooks runs once the budget has settled or released the request's hold
(LiteLLM runs the callbacks' hooks in list order, and wraps streams in that order: ours is the outer layer):

* a plain answer is recorded in ``async_post_call_success_hook``, its cost read exactly as the budget reads it
  (``pricing.litellm_cost``: the ``x-litellm-response-cost`` value);
* a stream is recorded when its last chunk has gone (or the client left), measured the way the budget measures it
  (``streaming.StreamMeter``, priced at the deployment that served);
* a refusal (429 from the budget), a failure and a client gone before the answer (499) in
  ``async_post_call_failure_hook``;
* each deployment attempt starts with ``log_pre_api_call`` (LiteLLM's ``Logging.pre_call``, once per provider
  call, with the request's call id); a failed one then gets ``async_log_failure_event``, but only the first
  failure of a request does (measured on 1.108.7: a fallback that fails too logs nothing, the logging object has
  already logged its failure). A failed fallback's outcome is then read from the error LiteLLM raises, whose text
  says "Fallback to <group> also failed: litellm.<ErrorClass>" (``router_utils/common_utils.py``,
  ``format_fallback_outcome_message``).

Never written: the prompt, the answer, any header (the request's ``Authorization`` is in ``proxy_server_request``).
The request id is LiteLLM's call id, the ``x-litellm-call-id`` header the client got.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
from litellm.integrations.custom_logger import CustomLogger

from llmstack_gateway import metrics
from llmstack_gateway.budget import CLIENT_CLOSED_REQUEST, DailyBudget, budget_hook
from llmstack_gateway.budget_api import install_budget_routes
from llmstack_gateway.clients import caller_of
from llmstack_gateway.counter import CounterUnavailable, to_nano
from llmstack_gateway.pricing import deployment_prices, litellm_cost
from llmstack_gateway.streaming import StreamMeter, _tokens

log = logging.getLogger("llmstack.records")

#: requests in flight or just ended whose attempts/holds we remember; more would mean a leak, so the oldest go
MAX_TRACKED = 10_000
#: the class of a failed fallback's error in the text LiteLLM raises (router_utils/common_utils.py)
FALLBACK_FAILURE = re.compile(r"also failed: litellm\.(\w+)")
#: LiteLLM's exception classes (litellm/exceptions.py) -> their HTTP status
ERROR_CLASS_STATUS = {
    "RateLimitError": 429,
    "InternalServerError": 500,
    "ServiceUnavailableError": 503,
    "APIConnectionError": 500,
    "Timeout": 408,
    "BadRequestError": 400,
    "AuthenticationError": 401,
    "NotFoundError": 404,
}
PENDING = "pending"


@dataclass
class Attempt:
    group: str | None
    deployment: str | None
    provider: str | None
    outcome: str = PENDING
    status: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Tracked:
    """What a request's later hooks need from its start: the budget's hold (gone from the budget once settled)."""

    day: str | None = None
    held_nano: int = 0
    input_bound: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    #: when our pre-call hook saw it: the latency's start when LiteLLM's logging object has none (a failure)
    started: float | None = None


def _client(user_api_key_dict: Any) -> str | None:
    """The caller auth.py named (a client, or the operator), None where no auth object came with the hook."""
    caller = caller_of(user_api_key_dict)
    return caller.name if caller is not None else None


def attempt_outcome(status: int | None, exception: BaseException | None) -> str:
    """How a deployment attempt ended, in the words of the issue: 429, 5xx, timeout, or another error."""
    name = type(exception).__name__.lower() if exception is not None else ""
    if "timeout" in name or status == 408:
        return "timeout"
    if status == 429:
        return "429"
    if status is not None and 500 <= status < 600:
        return "5xx"
    return "error"


def _status(exception: BaseException | None) -> int | None:
    value = getattr(exception, "status_code", None)
    return int(value) if isinstance(value, int) else None


def _deployment(logging_obj: Any) -> tuple[str | None, str | None, str | None]:
    """(group, deployment id, provider) that answered, from LiteLLM's logging object (set after any fallback)."""
    details = getattr(logging_obj, "model_call_details", None)
    if not isinstance(details, dict):
        return None, None, None
    params = details.get("litellm_params") or {}
    info = params.get("model_info") or {}
    metadata = params.get("metadata") or params.get("litellm_metadata") or {}
    group = metadata.get("model_group") if isinstance(metadata, Mapping) else None
    provider = details.get("custom_llm_provider") or params.get("custom_llm_provider")
    deployment = info.get("id") if isinstance(info, Mapping) else None
    return (
        str(group) if group else None,
        str(deployment) if deployment else None,
        str(provider) if provider else None,
    )


def _attempt(kwargs: Mapping[str, Any]) -> Attempt:
    """The deployment of one provider call, from LiteLLM's ``model_call_details``."""
    params = kwargs.get("litellm_params") or {}
    info = params.get("model_info") or {}
    metadata = params.get("metadata") or params.get("litellm_metadata") or {}
    group = metadata.get("model_group") if isinstance(metadata, Mapping) else None
    deployment = info.get("id") if isinstance(info, Mapping) else None
    provider = kwargs.get("custom_llm_provider") or params.get("custom_llm_provider")
    return Attempt(
        str(group) if group else None,
        str(deployment) if deployment else None,
        str(provider) if provider else None,
    )


def _fallback_failure_status(exception: BaseException | None) -> int | None:
    found = FALLBACK_FAILURE.search(str(exception or ""))
    return ERROR_CLASS_STATUS.get(found.group(1)) if found else None


def _request(data: Mapping[str, Any]) -> tuple[str, str | None]:
    """(endpoint path, model the client asked for): a route's name as routes.py noted it before rewriting it."""
    request = data.get("proxy_server_request") or {}
    url = str(request.get("url") or "")
    asked = data.get("model")
    for bucket in ("litellm_metadata", "metadata"):
        metadata = data.get(bucket)
        if isinstance(metadata, Mapping) and metadata.get("llmstack_route"):
            asked = metadata["llmstack_route"]
    return (urlsplit(url).path if url else "unknown"), (str(asked) if asked is not None else None)


def _usage(response: Any) -> tuple[int, int] | None:
    usage = response.get("usage") if isinstance(response, Mapping) else getattr(response, "usage", None)
    return None if usage is None else _tokens(usage)


def _cache_hit(logging_obj: Any) -> bool:
    details = getattr(logging_obj, "model_call_details", None)
    return bool(isinstance(details, dict) and details.get("cache_hit"))


def _start(logging_obj: Any) -> float | None:
    started = getattr(logging_obj, "start_time", None)
    return started.timestamp() if isinstance(started, dt.datetime) else None


class RequestRecords(CustomLogger):
    def __init__(self, write: Any = None, budget: DailyBudget | None = None) -> None:
        super().__init__()
        #: the budget hook the proxy loaded (the module's own): its open holds and its counter
        self._budget = budget or budget_hook
        self._tracked: OrderedDict[str, Tracked] = OrderedDict()
        self._recorded: OrderedDict[str, None] = OrderedDict()
        #: one ``write`` per line: a line under the pipe buffer size never interleaves with another worker's
        self._write = write or (lambda line: os.write(1, line.encode()))

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
        if not call_id:
            return
        attempt = _attempt(kwargs)
        attempts = self._track(str(call_id)).attempts
        if not attempts or attempts[-1].deployment != attempt.deployment or attempts[-1].outcome != PENDING:
            attempts.append(attempt)

    async def async_log_failure_event(
        self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        """A deployment attempt failed (LiteLLM logs the first failure of a request only, see above)."""
        call_id = kwargs.get("litellm_call_id")
        if not call_id:
            return
        exception = kwargs.get("exception")
        failed = _attempt(kwargs)
        attempts = self._track(str(call_id)).attempts
        attempt = next(
            (a for a in attempts if a.deployment == failed.deployment and a.outcome == PENDING), None
        )
        if attempt is None:
            attempts.append(failed)
            attempt = failed
        attempt.status = _status(exception)
        attempt.outcome = attempt_outcome(attempt.status, exception)

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
            tokens=_usage(response),
            first_chunk=None,
            client=_client(user_api_key_dict),
        )
        return response

    async def async_post_call_streaming_iterator_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, response: Any, request_data: dict[str, Any]
    ) -> AsyncGenerator[Any, None]:
        tracked = self._tracked.get(str(request_data.get("litellm_call_id")))
        meter = StreamMeter(input_bound=tracked.input_bound if tracked else 0)
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
                )

    async def async_post_call_failure_hook(
        self,
        request_data: dict[str, Any],
        original_exception: Exception,
        user_api_key_dict: Any,
        traceback_str: str | None = None,
    ) -> None:
        status = _status(original_exception) or 500
        detail = getattr(original_exception, "detail", None)
        reason = detail.get("reason") if isinstance(detail, Mapping) else None
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
        )

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
    ) -> None:
        if not data.get("litellm_call_id"):
            return  # refused before LiteLLM took it as a request (no key, a wrong key): nothing ran, nothing spent
        call_id = str(data.get("litellm_call_id"))
        if call_id in self._recorded:
            return  # LiteLLM also calls the failure hook after a stream that ended: one record per request
        self._recorded[call_id] = None
        while len(self._recorded) > MAX_TRACKED:
            self._recorded.popitem(last=False)
        tracked = self._tracked.pop(call_id, None) or Tracked()
        now = time.time()
        logging_obj = data.get("litellm_logging_obj")
        endpoint, asked = _request(data)
        served_group, deployment, provider = _deployment(logging_obj) if status < 400 else (None, None, None)
        # the group asked for (routes.py has resolved a route to it); a fallback's group is in ``attempts``
        group = str(data.get("model")) if data.get("model") else None
        self._settle_attempts(tracked.attempts, status, deployment, exception)
        if status < 400 and not any(a.outcome == "ok" for a in tracked.attempts):
            tracked.attempts.append(Attempt(served_group or group, deployment, provider, "ok", status))
        failed = [a for a in tracked.attempts if a.outcome not in ("ok", "client_closed")]
        for attempt in failed:
            metrics.ERRORS.labels(
                attempt.group or "unknown", attempt.provider or "unknown", attempt.outcome
            ).inc()
        attempts = [a.as_dict() for a in tracked.attempts]
        if refusal is not None:
            outcome = "refused"
        elif status == CLIENT_CLOSED_REQUEST:
            outcome = "client_closed"
        elif status >= 400:
            outcome = "error"
        else:
            outcome = "fallback" if failed else "ok"
        started = _start(logging_obj) or tracked.started
        streamed = data.get("stream") is True
        record: dict[str, Any] = {
            "event": "llmstack.request",
            "time": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds"),
            "request_id": call_id,
            "worker": os.getpid(),
            "endpoint": endpoint,
            "streamed": streamed,
            "asked": asked,
            # who asked (issue 13): a client's name, "operator" for the master key
            "client": client,
            "group": group,
            "deployment": deployment,
            "provider": provider,
            "outcome": outcome,
            "status": status,
            "attempts": attempts,
            "input_tokens": tokens[0] if tokens else None,
            "output_tokens": tokens[1] if tokens else None,
            "cost_usd": round(cost_nano / 1e9, 9),
            "latency_s": round(now - started, 4) if started is not None else None,
            "cache_hit": _cache_hit(logging_obj),
        }
        if streamed:
            record["ttft_s"] = round(first_chunk - started, 4) if first_chunk and started else None
        if refusal is not None:
            record["refusal"] = refusal
        record["budget"] = await self._budget_after(tracked.day)
        self._write(json.dumps(record, separators=(",", ":")) + "\n")
        self._observe(record)

    @staticmethod
    def _settle_attempts(
        attempts: list[Attempt], status: int, served: str | None, exception: BaseException | None
    ) -> None:
        """Outcomes for attempts no failure event described: the one that served, or the request's own error."""
        for attempt in attempts:
            if attempt.outcome != PENDING:
                continue
            if status < 400 and attempt.deployment == served:
                attempt.outcome, attempt.status = "ok", status
            elif status == CLIENT_CLOSED_REQUEST:
                attempt.outcome, attempt.status = "client_closed", status
            else:
                # a failed fallback (no failure event): its class from LiteLLM's text, else the request's status
                attempt.status = _fallback_failure_status(exception) or status
                attempt.outcome = attempt_outcome(attempt.status, None)

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

    @staticmethod
    def _observe(record: Mapping[str, Any]) -> None:
        group = record["group"] or "unknown"
        provider = record["provider"] or "none"
        endpoint = record["endpoint"]
        metrics.REQUESTS.labels(group, provider, endpoint, record["outcome"]).inc()
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
