"""The gateway's public surface: an allow-list of routes, everything else 404, ahead of LiteLLM's own routes.

LiteLLM 1.108.7's proxy mounts several hundred routes on the address that becomes the public domain: its landing
page (``/``, Swagger), ``/openapi.json``, the admin UI (``/ui``), key/team/user management, pass-through routes to
every provider, and ``GET /health``, which sends a real completion to every deployment outside any pre-call hook
(``proxy/health_check.py``), so outside the budget. Here only these answer:

* clients (their own key): the completion APIs the budget serves (``endpoints.SERVED``, also without ``/v1``) and
  ``GET /v1/models``, which lists only the caller's routes;
* anyone: ``/health/liveliness`` (and LiteLLM's spelling ``liveness``), ``/health/readiness``, ``/health/ready``;
* operators (the master key; another client key gets 403, no key 401): ``/budget``, ``/metrics`` and
  ``/llmstack/routes``, which lists every route the app mounts and which of them answer. A client whose catalog
  entry has ``read_budget`` reads ``/budget`` too, and nothing else of these (``clients.operator_route_refusal``).

A refused route is matched by the guard before LiteLLM's router sees it, so no LiteLLM handler, dependency or
hook runs for it.
"""

from __future__ import annotations

import sys
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

from llmstack_gateway.endpoints import SERVED, refusal_text
from llmstack_gateway.framework_spans import quiet_framework_spans

#: completions, as clients call them (LiteLLM routes them with and without the ``/v1`` prefix)
COMPLETION_PATHS = frozenset([*SERVED, *(path.removeprefix("/v1") for path in SERVED)])
MODELS_PATHS = frozenset({"/v1/models", "/models"})
#: never call a provider, need no key (Railway's health check uses /health/ready)
HEALTH_PATHS = frozenset({"/health/liveliness", "/health/liveness", "/health/readiness", "/health/ready"})
#: the master key (llmstack_gateway/budget_api.py serves the first two; a ``read_budget`` client may read
#: ``/budget``: clients.operator_route_refusal). Exact paths: LiteLLM's own
#: ``/budget/list``, ``/budget/settings``, ... are database-backed management routes and stay refused
OPERATOR_PATHS = frozenset({"/budget", "/metrics", "/llmstack/routes"})
ROUTES_PATH = "/llmstack/routes"
#: where LiteLLM reads a key from (proxy/auth/user_api_key_auth.py: Authorization, x-litellm-api-key, Azure's
#: api-key, Anthropic's x-api-key, Google's x-goog-api-key)
KEY_HEADERS = ("authorization", "x-litellm-api-key", "api-key", "x-api-key", "x-goog-api-key")


def kind_of(method: str, path: str) -> str | None:
    """``client``, ``public`` or ``operator`` for a request the surface allows; None for everything else."""
    path = path.rstrip("/") or "/"
    if method == "POST" and path in COMPLETION_PATHS:
        return "client"
    if method == "HEAD" and path in HEALTH_PATHS:
        return "public"  # HEAD reads what GET reads: load balancers probe with it
    if method != "GET":
        return None
    if path in MODELS_PATHS:
        return "client"
    if path in HEALTH_PATHS:
        return "public"
    if path in OPERATOR_PATHS:
        return "operator"
    return None


def key_from_headers(headers: Any) -> str:
    from llmstack_gateway.clients import presented_key

    for name in KEY_HEADERS:
        value = headers.get(name)
        if value:
            return presented_key(value)
    return ""


def _error(status: int, message: str, code: str) -> JSONResponse:
    kind = {401: "auth_error", 403: "permission_error"}.get(status, "invalid_request_error")
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


def operator_refusal(key: str, path: str) -> JSONResponse | None:
    from llmstack_gateway.clients import operator_route_refusal, registry

    caller = registry().identify(key)
    if caller is None:
        return _error(401, "Invalid or missing API key", "401")
    reason = operator_route_refusal(caller, path)
    return None if reason is None else _error(403, reason, "403")


class SurfaceGuard(BaseRoute):
    """Matches exactly the requests the surface refuses: unlisted routes (404) and operator routes without the
    master key or, for ``/budget``, a ``read_budget`` client's key (401/403). Everything else falls through."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "websocket":
            return Match.FULL, {}
        if scope["type"] != "http":
            return Match.NONE, {}
        kind = kind_of(scope["method"], scope["path"])
        if kind is None:
            return Match.FULL, {}
        if kind == "operator":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            if operator_refusal(key_from_headers(headers), scope["path"]) is not None:
                return Match.FULL, {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            # refuse the handshake (close before accept): the ASGI spec turns it into HTTP 403
            await send({"type": "websocket.close", "code": 1008})
            return
        method, path = scope["method"], scope["path"]
        if kind_of(method, path) == "operator":
            response = operator_refusal(key_from_headers(Request(scope).headers), path)
            if response is not None:
                await response(scope, receive, send)
                return
        await _error(404, refusal_text(method, path), "endpoint_not_served")(scope, receive, send)


async def list_models(request: Request) -> Response:
    """OpenAI's ``GET /v1/models``, listing only what the caller may ask for (the operator: every name)."""
    from llmstack_gateway.clients import OPERATOR, registry
    from llmstack_gateway.settings import load_routes

    caller = registry().identify(key_from_headers(request.headers))
    if caller is None:
        return _error(401, "Invalid or missing API key", "401")
    if caller is OPERATOR:
        from llmstack_gateway.settings import load_settings

        names = sorted({*load_settings().groups, *load_routes()})
    else:
        names = list(caller.routes)
    data = [{"id": name, "object": "model", "created": 0, "owned_by": "llmstack"} for name in names]
    return JSONResponse({"object": "list", "data": data})


def _flat(routes: list[Any]) -> list[tuple[str, list[str], str]]:
    """(path, methods, kind) of every route, with FastAPI 0.165's included routers (``_IncludedRouter``, which
    no longer copies its routes into the app's table: fastapi/routing.py) opened to their effective routes."""
    out: list[tuple[str, list[str], str]] = []
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if candidates is not None:
            out.extend(_flat(candidates()))
            continue
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None)
        if path is None:
            continue  # the guard itself
        methods = sorted(getattr(original, "methods", None) or []) or ["*"]
        out.append((path, methods, type(original).__name__))
    return out


def route_inventory(routes: list[Any]) -> list[dict[str, Any]]:
    """Every route the app mounts, with its methods and which of them the surface lets answer."""
    return [
        {
            "path": path,
            "methods": methods,
            "exposed": sorted(m for m in methods if kind_of(m, path) is not None),
            "kind": kind,
        }
        for path, methods, kind in _flat(routes)
    ]


def install_surface() -> None:
    """Puts the guard, ``/v1/models`` and ``/llmstack/routes`` first in the proxy's router, once per worker.

    Outside the proxy (unit tests) there is no app and nothing happens.
    """
    proxy = sys.modules.get("litellm.proxy.proxy_server")
    if proxy is None:
        return
    routes = proxy.app.router.routes
    if any(isinstance(route, SurfaceGuard) for route in routes):
        return
    quiet_framework_spans(proxy.app)

    async def inventory(request: Request) -> Response:
        # read at request time: LiteLLM re-sorts the table and adds lazily loaded features' routes later
        listed = route_inventory(list(request.app.router.routes))
        exposed = [r for r in listed if r["exposed"] and not r["path"].startswith(ROUTES_PATH)]
        return JSONResponse({"mounted": len(listed), "exposed": len(exposed), "routes": listed})

    for path in sorted(MODELS_PATHS):
        routes.insert(0, Route(path, list_models, methods=["GET"]))
    routes.insert(0, Route(ROUTES_PATH, inventory, methods=["GET"]))
    routes.insert(0, SurfaceGuard())
