"""What a finished request cost, the way LiteLLM prices it, and the prices of the deployment that served it."""

from __future__ import annotations

from typing import Any

from llmstack_gateway.settings import BudgetSettings


def litellm_cost(response: Any, logging_obj: Any) -> float | None:
    """The cost LiteLLM computed for a non-streamed response: the value of its ``x-litellm-response-cost``.

    Same order as the proxy's own header code (proxy/common_request_processing.py,
    ``_response_cost_from_logging_obj``): the response's ``_hidden_params``; else, for responses that cannot
    carry them (``/v1/messages`` returns a plain dict), the logging object's stored cost, else its calculator.
    """
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    if isinstance(cost, (int, float)):
        return float(cost)
    details = getattr(logging_obj, "model_call_details", None)
    if not isinstance(details, dict):
        return None
    stored = details.get("response_cost")
    if isinstance(stored, (int, float)):
        return float(stored)
    try:
        recomputed = logging_obj.response_cost_calculator(result=response)
    except Exception:
        return None
    return float(recomputed) if isinstance(recomputed, (int, float)) else None


def deployment_prices(logging_obj: Any, settings: BudgetSettings) -> tuple[float, float] | None:
    """(input, output) USD per token of the deployment that served the request (after any fallback).

    The logging object's ``litellm_params.model_info`` names the final deployment on every endpoint (measured:
    chat, messages and responses streams, also after a fallback). None when it cannot be told: the caller then
    prices at the group's bound, the highest price along its fallback chain.
    """
    details = getattr(logging_obj, "model_call_details", None)
    if not isinstance(details, dict):
        return None
    params = details.get("litellm_params") or {}
    info = params.get("model_info") or {}
    known = settings.deployment_prices.get(str(info.get("id")))
    if known is not None:
        return known
    for source in (info, params):
        if source.get("input_cost_per_token") is not None and source.get("output_cost_per_token") is not None:
            return float(source["input_cost_per_token"]), float(source["output_cost_per_token"])
    return None
