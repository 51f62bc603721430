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

#: the budget's 429 bodies as the real gateway sends them: LiteLLM 1.108.7 puts the budget hook's HTTPException
#: detail (llmstack_gateway/budget.py ``_refusal``, clients.py ``client_refusal``) in
#: ``error.provider_specific_fields`` and its ``error`` text in ``error.message`` (measured through the proxy)
BUDGET_REFUSALS: dict[str, dict[str, Any]] = {
    "budget": {
        "error": "the daily budget of $2 cannot cover this request (up to $0.012000): $1.995000 spent, $0.000000 "
        "held by requests in flight; it resets at 2026-12-02T00:00:00+00:00 (UTC)",
        "reason": "daily_budget_exhausted",
        "budget_usd": 2.0,
        "request_usd": 0.012,
    },
    "share": {
        "error": "client bot's share of $1 is spent for today (this request needs up to $0.012000): $0.995000 "
        "spent, $0.000000 held by its requests in flight; it resets at 2026-12-02T00:00:00+00:00 (UTC)",
        "reason": "client_share_exhausted",
        "client": "bot",
        "share_usd": 1.0,
        "request_usd": 0.012,
    },
    "never_fits": {
        "error": "the daily budget of $0.05 cannot cover this request on any day: its worst case (up to "
        "$0.120054) is more than the whole cap, so waiting for the reset will not help; lower max_tokens (the "
        "output limit the worst case counts, times n choices) or shorten the input",
        "reason": "daily_budget_exhausted",
        "budget_usd": 0.05,
        "request_usd": 0.120054,
    },
}


def budget_refusal_body(mode: str) -> dict[str, Any]:
    fields = {
        **BUDGET_REFUSALS[mode],
        "spent_usd": 0.0,
        "held_usd": 0.0,
        "resets_at": "2026-12-02T00:00:00+00:00",
        "timezone": "UTC",
    }
    error = {
        "message": fields["error"],
        "type": "rate_limit_error",
        "param": None,
        "code": "429",
        "provider_specific_fields": fields,
    }
    return {"error": error}


@dataclass
class FakeGateway:
    key: str
    #: ok | fail (503) | budget, share, never_fits (the budget's 429s, BUDGET_REFUSALS) | long (a 10,000-character
    #: answer with markup)
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
        if self.mode in BUDGET_REFUSALS:
            return 429, {}, budget_refusal_body(self.mode)
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
