"""A fake OpenAI-compatible gateway for the bot's own tests (the end-to-end tests use the real LiteLLM proxy)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from infra.simulator.loopback import serve


@dataclass
class FakeGateway:
    key: str
    #: ok | fail (503) | budget (429 with the budget message) | long (a 10,000-character answer with markup)
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: seconds each answer takes, so overlapping requests of one user would be seen
    delay_s: float = 0.0
    #: seconds one user's answers take (the OpenAI ``user`` field), over ``delay_s``: a slow call for one user
    delay_by_user: dict[str, float] = field(default_factory=dict)
    #: the most requests one user (the OpenAI ``user`` field) ever had in flight at once
    max_in_flight: dict[str, int] = field(default_factory=dict)
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(
        self, body: dict[str, Any], authorization: str | None
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if authorization != f"Bearer {self.key}":
            return 401, {}, {"error": {"message": "Invalid or missing API key", "code": "401"}}
        user = str(body.get("user"))
        with self._lock:
            self.requests.append(body)
            self._in_flight[user] = self._in_flight.get(user, 0) + 1
            self.max_in_flight[user] = max(self.max_in_flight.get(user, 0), self._in_flight[user])
        try:
            if self.delay_s or user in self.delay_by_user:
                time.sleep(self.delay_by_user.get(user, self.delay_s))
            return self._answer(body)
        finally:
            with self._lock:
                self._in_flight[user] -= 1

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.mode == "fail":
            return 503, {}, {"error": {"message": "all providers down", "code": "503"}}
        if self.mode == "budget":
            message = "the daily budget of $2 is spent; it resets at 2026-12-02T00:00:00+00:00 (UTC)"
            return 429, {}, {"error": {"message": message, "type": "rate_limit_error", "code": "429"}}
        last = body["messages"][-1]["content"]
        text = ("<b>bold?</b> & " * 700) if self.mode == "long" else f"echo: {last}"
        completion = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        return (
            200,
            {"x-litellm-response-cost": "0.00042", "x-litellm-model-id": f"fake-{body['model']}"},
            completion,
        )

    @contextmanager
    def running(self) -> Iterator[FakeGateway]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                status, headers, payload = fake.answer(body, self.headers.get("authorization"))
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        with serve(Handler) as server:
            self._server = server
            yield self
