"""``GET /budget`` and ``GET /metrics``: what the gateway spent and did, for the stack's operator.

Both read the budget counter (the one store every worker and replica shares), so any worker answers the same.
Who may read them (``clients.operator_route_refusal``, the rule the surface's guard applies too):

* ``/budget``: the master key, or the key of a client whose catalog entry has ``read_budget: true`` (the bot, for
  the admin chat's ``/spend``; issue 12). Another client's key gets 403 naming the setting, no key 401.
* ``/metrics``: the master key only. Traffic, errors and latency per group and provider are for the operator's
  scraper, and no client needs them: the figures a client may see are ``/budget``'s.

Both need a key at all because the gateway's domain is public, and spend and traffic are not for everyone.

H8 (issue 13) owns how the public app is assembled (``surface.py``): it should include ``router`` from here. Until
it does, ``install_budget_routes`` puts these routes ahead of LiteLLM's, as ``endpoints.install_routes`` does for
the guard (GET passes that guard: it cannot start a generation).
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from llmstack_gateway import metrics
from llmstack_gateway.auth import user_api_key_auth
from llmstack_gateway.clients import BUDGET_PATH, caller_of, operator_route_refusal
from llmstack_gateway.counter import CounterUnavailable
from llmstack_gateway.surface import key_from_headers

if TYPE_CHECKING:
    from llmstack_gateway.counter import DayTotals

router = APIRouter()
#: the daily totals are kept 31 days (counter.py); more cannot be asked for
MAX_DAYS = 31


def _usd(nano: int) -> float:
    return round(nano / 1e9, 9)


def _split(values: dict[str, int]) -> dict[str, float]:
    return {name: _usd(amount) for name, amount in sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))}


def day_summary(totals: DayTotals) -> dict[str, Any]:
    return {
        "day": totals.day,
        "spent_usd": _usd(totals.spent),
        "requests": totals.requests,
        "by_group": _split(totals.by_group),
        "by_provider": _split(totals.by_provider),
        "by_client": _split(totals.by_client),
    }


async def _refusal(request: Request, path: str) -> Response | None:
    """The same check as every route (auth.py, 401 without a known key), then who may read ``path``: a 403 in the
    shape the surface's guard answers (OpenAI's ``error.message``), or None when the caller may.

    A client's key (issue 13, ``clients.py``) is a known key too: it reads ``/budget`` with ``read_budget`` only.
    """
    # any header a client may carry its key in (Anthropic's SDK sends x-api-key), as the surface's guard reads it
    identity = await user_api_key_auth(request, key_from_headers(request.headers))
    caller = caller_of(identity)
    reason = (
        "this request carries no client identity" if caller is None else operator_route_refusal(caller, path)
    )
    if reason is None:
        return None
    error = {"message": reason, "type": "permission_error", "code": "403"}
    return JSONResponse({"error": error}, status_code=403)


def _budget() -> Any:
    # imported here: budget.py installs routes on import, and this module is imported by the callbacks' module
    from llmstack_gateway.budget import budget_hook

    return budget_hook


@router.get(BUDGET_PATH)
async def budget_report(request: Request, days: int = Query(7, ge=1, le=MAX_DAYS)) -> Response:
    refused = await _refusal(request, BUDGET_PATH)
    if refused is not None:
        return refused
    hook = _budget()
    settings = hook.settings
    today, resets = settings.day()
    first = dt.date.fromisoformat(today)
    wanted = [(first - dt.timedelta(days=i)).isoformat() for i in range(days)]
    try:
        spent, held = await hook.counter.spent(today)
        history = await hook.counter.history(wanted)
    except CounterUnavailable as exc:
        raise HTTPException(
            status_code=503, detail={"error": f"the budget counter is unreachable: {exc}"}
        ) from exc
    today_totals = day_summary(history[0])
    body = {
        "stack": settings.stack,
        "day": today,
        "timezone": settings.timezone,
        "resets_at": resets.isoformat(),
        "cap_usd": settings.daily_usd,
        # the counter's own figures for today (the totals below add up to ``spent_usd``)
        "spent_usd": _usd(spent),
        "held_usd": _usd(held),
        "remaining_usd": _usd(max(0, round(settings.daily_usd * 1e9) - spent - held)),
        "requests": today_totals["requests"],
        "by_group": today_totals["by_group"],
        "by_provider": today_totals["by_provider"],
        "by_client": today_totals["by_client"],
        "history": [day_summary(totals) for totals in history],
    }
    return JSONResponse(body)


@router.get("/metrics")
async def prometheus_metrics(request: Request) -> Response:
    refused = await _refusal(request, "/metrics")
    if refused is not None:
        return refused
    hook = _budget()
    settings = hook.settings
    today, _ = settings.day()
    try:
        spent, held = await hook.counter.spent(today)
        gauges = metrics.BudgetGauges(spent / 1e9, held / 1e9, settings.daily_usd, reachable=True)
    except CounterUnavailable:
        gauges = metrics.BudgetGauges(None, None, settings.daily_usd, reachable=False)
    return Response(metrics.exposition([gauges]), media_type=metrics.CONTENT_TYPE)


def install_budget_routes() -> None:
    """Put ``router``'s routes ahead of LiteLLM's when the proxy loads our callbacks; nothing outside the proxy."""
    proxy = sys.modules.get("litellm.proxy.proxy_server")
    if proxy is None:
        return
    routes = proxy.app.router.routes
    paths = {getattr(route, "path", None) for route in router.routes}
    if any(getattr(route, "endpoint", None) is budget_report for route in routes):
        return
    for route in reversed(router.routes):
        if getattr(route, "path", None) in paths:
            routes.insert(0, route)
