"""Stand-ins for the deployed gateway and bot on 127.0.0.1, answering as the real services do, with faults.

Where each answer comes from:
- ``/health/ready``: services/litellm-gateway/llmstack_gateway/budget.py (``_install_readiness_route``):
  200 ``{"status": "ready", "budget_counter": "redis"|"memory"}``, 503 ``{"status": "unavailable", "reason"}``
  when Redis is unreachable; no key needed.
- ``/v1/models``: LiteLLM 1.108.7's proxy, measured against ``LocalGateway`` with the dev stack's config: an
  OpenAI list ``{"data": [{"id": <route or group>, "object": "model", ...}]}`` holding the routes
  (``model_group_alias``) and the groups; without a key or with a wrong one, 401
  ``{"error": {"message": "Invalid or missing API key", ...}}`` (llmstack_gateway/auth.py).
- the bot's ``/health``: services/telegram-bot/llmstack_bot/app.py: 200 ``{"status": "ok", "database": "ok", ...}``,
  503 ``{"status": "unavailable", "database": <why>}`` (checked against the real bot in test_serving_real_bot.py).
- Railway's edge before a new domain has provisioned: 404 "Not Found / The train has not arrived at the
  station" (as reported in AnswerDotAI/fasthtml-example#63); when the container does not listen on the
  domain's port: 502 "Application failed to respond" (novicezk/midjourney-proxy#310).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from infra.simulator.loopback import serve

NOT_ROUTED_PAGE = (
    "<html><body><h1>Not Found</h1><p>The train has not arrived at the station.</p></body></html>"
)
NOT_LISTENING_PAGE = "<html><body><h1>Application failed to respond</h1></body></html>"


@dataclass
class DeployedService:
    """What the stand-in serves. Change the fields while it runs; every request reads them afresh."""

    key: str = "master-key-for-tests-0123456789abcdef"
    model_ids: list[str] = field(
        default_factory=lambda: ["balanced", "simple", "claude-sonnet", "gemini-pro"]
    )
    budget_counter: str = "redis"
    #: the first N requests get Railway's "not routed yet" page
    unrouted_requests: int = 0
    #: the container does not listen on the domain's target port: Railway's edge answers 502
    not_listening: bool = False
    #: Redis unreachable: readiness answers 503
    redis_down: bool = False
    #: the bot's database unreachable: /health answers 503
    database_down: bool = False
    #: every answer waits this long (a hanging service)
    delay_s: float = 0.0
    #: authentication not in force (a config without its auth): /v1/models answers anyone
    auth_off: bool = False
    #: echo the Authorization header in 401 bodies (a misbehaving proxy): the check must still not leak it
    echo_auth: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, path: str, authorization: str) -> tuple[int, str, str]:
        with self._lock:
            self.requests.append((path, authorization))
            if self.unrouted_requests > 0:
                self.unrouted_requests -= 1
                return 404, "text/html", NOT_ROUTED_PAGE
        if self.not_listening:
            return 502, "text/html", NOT_LISTENING_PAGE
        if self.delay_s:
            time.sleep(self.delay_s)
        if path == "/health/ready":
            if self.redis_down:
                reason = "the budget counter's Redis is unreachable (ConnectionError)"
                return 503, "application/json", json.dumps({"status": "unavailable", "reason": reason})
            return (
                200,
                "application/json",
                json.dumps({"status": "ready", "budget_counter": self.budget_counter}),
            )
        if path == "/v1/models":
            if authorization != f"Bearer {self.key}" and not self.auth_off:
                message = "Invalid or missing API key" + (f" ({authorization})" if self.echo_auth else "")
                error = {"message": message, "type": "auth_error", "param": "None", "code": "401"}
                return 401, "application/json", json.dumps({"error": error})
            data = [{"id": i, "object": "model", "owned_by": "openai"} for i in self.model_ids]
            return 200, "application/json", json.dumps({"data": data, "object": "list"})
        if path == "/health":
            if self.database_down:
                return (
                    503,
                    "application/json",
                    json.dumps({"status": "unavailable", "database": "OperationalError"}),
                )
            return 200, "application/json", json.dumps({"status": "ok", "database": "ok"})
        return 404, "application/json", json.dumps({"detail": "Not Found"})


@contextmanager
def running(service: DeployedService) -> Iterator[str]:
    """Serve ``service`` on 127.0.0.1; yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content_type, body = service.answer(self.path, self.headers.get("Authorization", ""))
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_args: object) -> None:
            return None

    with serve(Handler) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"
