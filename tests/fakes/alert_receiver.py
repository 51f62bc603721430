"""Records the JSON the gateway's budget hook posts (what the bot's /alerts endpoint receives in production)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.simulator.loopback import serve


@dataclass
class AlertReceiver:
    alerts: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str | None] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/alerts"

    @contextmanager
    def running(self) -> Iterator[AlertReceiver]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                receiver.alerts.append(json.loads(body))
                receiver.secrets.append(self.headers.get("x-llmstack-alert-secret"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        with serve(Handler) as server:
            self._server = server
            yield self
