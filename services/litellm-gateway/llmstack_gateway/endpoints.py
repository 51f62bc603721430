"""Which APIs this gateway serves, and a refusal that names the API a client called for everything else.

Only the four text-generation APIs are priced by the budget hook. LiteLLM's proxy also exposes embeddings, images,
audio, batches, files, pass-through routes (``/anthropic/...``, ``/gemini/...``) and more; several of those never
run ``async_pre_call_hook`` (pass-through routes go straight to the provider), so refusing in the hook alone would
leave unbudgeted ways to spend. The guard is a route placed ahead of LiteLLM's own: any request that could reach
a provider (every method but GET/HEAD/OPTIONS, and websockets such as ``/v1/realtime``) on a path not served here
gets 404 with a message naming the method and path, and the list of what is served.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send

#: the served APIs, as clients call them (the OpenAI and Anthropic SDKs put ``/v1`` in front)
SERVED = ("/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/responses")
#: also served: the same without ``/v1`` (LiteLLM routes both), and Anthropic's free token count
_SERVED_PATHS = frozenset(
    [*SERVED, *(path.removeprefix("/v1") for path in SERVED), "/v1/messages/count_tokens"]
)
#: methods that read and cannot start a generation
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SERVED_TEXT = ", ".join(f"POST {path}" for path in SERVED)


def refusal_text(method: str, path: str) -> str:
    return f"{method} {path} is not served by this gateway; served: {SERVED_TEXT}"


def not_served_message(data: Mapping[str, Any], call_type: str) -> str:
    """For the budget hook: the API the client called, from the request LiteLLM recorded (not its call type)."""
    request = data.get("proxy_server_request") or {}
    url = str(request.get("url") or "")
    path = urlsplit(url).path if url else f"the {call_type} API"
    return refusal_text(str(request.get("method") or "POST"), path)


#: LiteLLM's refusals of a request body, raised as a ValueError inside its auth (``proxy/auth/auth_utils.py``,
#: ``is_request_body_safe`` and its helpers): a parameter only the operator may set (``api_base``, ``api_key``,
#: ``base_url``, ``turn_off_message_logging``, ``model_list``...), a URL as a fallback, a secret reference
#: (``os.environ/...``), fallbacks nested too deep. Each starts with this text; the first kind names the parameter.
_BODY_REFUSAL = "Rejected Request: "
_NAMED_PARAMETER = re.compile(r"^Rejected Request: (\S+) is not allowed in (?:the )?request body")
BODY_REFUSAL_REASON = "parameter_not_allowed"


def body_refusal(exception: BaseException | None) -> HTTPException | None:
    """LiteLLM's refusal of a request body as the 400 it is, with a message for this gateway's clients.

    LiteLLM's auth answers it as 401 "Authentication Error" (500 where the ``prisma`` package is missing, as its
    error classifier imports it): an SDK then reports a bad key, though the key was fine and the body was not.
    Its text may advise ``allow_client_side_credentials``, a setting this stack never renders.
    """
    if not isinstance(exception, ValueError) or not str(exception).startswith(_BODY_REFUSAL):
        return None
    named = _NAMED_PARAMETER.match(str(exception))
    if named is None:
        # keep LiteLLM's own sentence (it says what is wrong), without its advice to proxy administrators
        said = str(exception).removeprefix(_BODY_REFUSAL).split(" Clientside passthrough", 1)[0]
        return HTTPException(status_code=400, detail=f"the request body was refused: {said}")
    message = (
        f"the request body may not set {named.group(1)!r}: where requests go, with which credentials, and what "
        "is logged are the gateway's catalog's (stacks/catalog.yaml), never a caller's"
    )
    return HTTPException(status_code=400, detail=message)


def is_served(method: str, path: str) -> bool:
    return method in _READ_METHODS or (path.rstrip("/") or "/") in _SERVED_PATHS


class NotServedRoute(BaseRoute):
    """Matches exactly the requests this gateway does not serve, ahead of LiteLLM's routes."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "websocket":
            return Match.FULL, {}
        if scope["type"] == "http" and not is_served(scope["method"], scope["path"]):
            return Match.FULL, {}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = refusal_text(
            "WEBSOCKET" if scope["type"] == "websocket" else scope["method"], scope["path"]
        )
        if scope["type"] == "websocket":
            # refuse the handshake (close before accept): the ASGI spec turns it into HTTP 403
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = {"error": {"message": message, "type": "invalid_request_error", "code": "endpoint_not_served"}}
        await JSONResponse(body, status_code=404)(scope, receive, send)


def install_routes(ready: Callable[[], Awaitable[tuple[int, dict[str, str]]]]) -> None:
    """Adds the guard and ``GET /health/ready`` to the proxy's app when the proxy loads our hooks.

    Each worker loads them; outside the proxy (unit tests) there is no app and nothing happens.
    """
    proxy = sys.modules.get("litellm.proxy.proxy_server")
    if proxy is None:
        return

    async def readiness(request: Request) -> Response:
        status, body = await ready()
        return JSONResponse(body, status_code=status)

    routes = proxy.app.router.routes
    if not any(isinstance(route, NotServedRoute) for route in routes):
        routes.insert(0, NotServedRoute())
        routes.insert(0, Route("/health/ready", readiness, methods=["GET"]))
