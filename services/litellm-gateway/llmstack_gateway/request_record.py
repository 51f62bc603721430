"""One request's record, assembled from what LiteLLM hands the hooks (no I/O: ``records.py`` writes it).

The fields are the service README's ("Request records"). Never in it: a header (the request's ``Authorization``
is in ``proxy_server_request``) or a key; the prompt and the answer only where ``content.py`` says so. The
request id is LiteLLM's call id, the ``x-litellm-call-id`` header the client got.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from llmstack_gateway.attempts import Attempts
from llmstack_gateway.budget import CLIENT_CLOSED_REQUEST
from llmstack_gateway.streaming import _tokens


def served_by(logging_obj: Any) -> tuple[str | None, str | None, str | None]:
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


#: the most of a caller-chosen name (``model``) a record keeps: a refused request's ``model`` is whatever the caller
#: wrote, and the line must stay within the pipe's atomic write (content.py)
MAX_NAME = 128


def bounded(name: str | None) -> str | None:
    """A caller-chosen name as a record keeps it: at most MAX_NAME characters, a cut one ending in "…"."""
    if name is None or len(name) <= MAX_NAME:
        return name
    return name[: MAX_NAME - 1] + "…"


def endpoint_and_asked(data: Mapping[str, Any], route: str | None = None) -> tuple[str, str | None]:
    """(endpoint path, model the client asked for): a route's name as routes.py noted it before rewriting it.

    ``route``: the path LiteLLM's auth noted, for a request refused there, before it recorded the request."""
    request = data.get("proxy_server_request") or {}
    url = str(request.get("url") or "")
    asked = data.get("model")
    for bucket in ("litellm_metadata", "metadata"):
        metadata = data.get(bucket)
        if isinstance(metadata, Mapping) and metadata.get("llmstack_route"):
            asked = metadata["llmstack_route"]
    return (urlsplit(url).path if url else route or "unknown"), bounded(
        str(asked) if asked is not None else None
    )


def usage_of(response: Any) -> tuple[int, int] | None:
    usage = response.get("usage") if isinstance(response, Mapping) else getattr(response, "usage", None)
    return None if usage is None else _tokens(usage)


def _cache_hit(logging_obj: Any) -> bool:
    details = getattr(logging_obj, "model_call_details", None)
    return bool(isinstance(details, dict) and details.get("cache_hit"))


def _start(logging_obj: Any) -> float | None:
    started = getattr(logging_obj, "start_time", None)
    return started.timestamp() if isinstance(started, dt.datetime) else None


def outcome_of(status: int, refusal: str | None, fell_back: bool) -> str:
    if refusal is not None:
        return "refused"
    if status == CLIENT_CLOSED_REQUEST:
        return "client_closed"
    if status >= 400:
        return "error"
    return "fallback" if fell_back else "ok"


def assemble(
    data: Mapping[str, Any],
    attempts: Attempts,
    *,
    call_id: str,
    status: int,
    cost_nano: int,
    tokens: tuple[int, int] | None,
    first_chunk: float | None,
    refusal: str | None,
    exception: BaseException | None,
    client: str | None,
    started: float | None,
    route: str | None = None,
    now: float,
) -> dict[str, Any]:
    """The record without the budget's figures; ``started``: when our pre-call hook saw the request (the
    latency's start when LiteLLM's logging object has none, a failure). Settles the attempts' outcomes."""
    logging_obj = data.get("litellm_logging_obj")
    endpoint, asked = endpoint_and_asked(data, route)
    # who answered: on success, and when the client left mid-answer (the deployment that was answering is known)
    answered = status < 400 or status == CLIENT_CLOSED_REQUEST
    served_group, deployment, provider = served_by(logging_obj) if answered else (None, None, None)
    # the group asked for (routes.py has resolved a route to it); a fallback's group is in ``attempts``
    group = bounded(str(data.get("model"))) if data.get("model") else None
    attempts.settle(status, (served_group or group, deployment, provider), exception)
    answering = attempts.answering() if status == CLIENT_CLOSED_REQUEST else None
    if answering is not None and deployment is None:
        # the failure hook gets no logging object (LiteLLM pops it first): the attempt the client left names it
        deployment, provider = answering.deployment, answering.provider
    started = _start(logging_obj) or started
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
        "outcome": outcome_of(status, refusal, bool(attempts.failed())),
        "status": status,
        "attempts": [a.as_dict() for a in attempts.items],
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
    return record
