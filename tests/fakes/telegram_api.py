"""A fake Telegram Bot API on 127.0.0.1: records every call and validates parameters like Telegram does."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

UPDATE_TYPES = {
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "callback_query",
    "inline_query",
    "chosen_inline_result",
    "my_chat_member",
    "chat_member",
}
TOKEN = re.compile(r"^[0-9]{6,12}:[A-Za-z0-9_-]{20,}$")


class BadRequestError(Exception):
    pass


def _validate_set_webhook(params: dict[str, Any]) -> None:
    if not str(params.get("url", "")).startswith("https://"):
        raise BadRequestError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise BadRequestError("Bad Request: secret token contains unallowed characters")
    updates = params.get("allowed_updates", [])
    if not isinstance(updates, list) or not set(updates) <= UPDATE_TYPES:
        raise BadRequestError("Bad Request: can't parse allowed updates")


@dataclass
class FakeTelegram:
    token: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def api_base(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def handle(self, path: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", path)
        if match is None or match.group(1) != self.token:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        method = match.group(2)
        self.calls.append((method, params))
        try:
            if method == "setWebhook":
                _validate_set_webhook(params)
                self.webhook = dict(params)
                return 200, {"ok": True, "result": True, "description": "Webhook was set"}
            if method == "deleteWebhook":
                self.webhook = {}
                return 200, {"ok": True, "result": True}
            if method == "getWebhookInfo":
                return 200, {
                    "ok": True,
                    "result": {"url": self.webhook.get("url", ""), "pending_update_count": 0},
                }
        except BadRequestError as exc:
            return 400, {"ok": False, "error_code": 400, "description": str(exc)}
        return 200, {"ok": True, "result": True}

    @contextmanager
    def running(self) -> Iterator[FakeTelegram]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length) if length else b"{}"
                params = json.loads(raw or b"{}")
                status, body = fake.handle(self.path, params)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server = self._server
        thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
