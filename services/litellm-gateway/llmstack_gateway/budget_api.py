"""``GET /budget`` and ``GET /metrics``: what the gateway spent and did, for the stack's operator (master key only).

Both read the budget counter (the one store every worker and replica shares), so any worker answers the same.
``/metrics`` also needs the key: the gateway's domain is public, and spend and traffic are not for everyone.

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
from litellm.proxy._types import LitellmUserRoles

from llmstack_gateway import metrics
from llmstack_gateway.auth import user_api_key_auth
from llmstack_gateway.counter import CounterUnavailable

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


async def _authorize(request: Request) -> None:
    """The master key only: the same check as every route (auth.py, 401 without a known key), then the role.

    A client's key (issue 13, ``clients.py``) is a known key too, but spend and traffic are the operator's.
    """
    caller = await user_api_key_auth(request, request.headers.get("authorization") or "")
    if caller.user_role != LitellmUserRoles.PROXY_ADMIN:
        raise HTTPException(status_code=403, detail="only the master key may read the budget and the metrics")


def _budget() -> Any:
    # imported here: budget.py installs routes on import, and this module is imported by the callbacks' module
    from llmstack_gateway.budget import budget_hook

    return budget_hook


@router.get("/budget")
async def budget_report(request: Request, days: int = Query(7, ge=1, le=MAX_DAYS)) -> Response:
    await _authorize(request)
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
    await _authorize(request)
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
