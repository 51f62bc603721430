"""The simulator: one loopback HTTP server, one path prefix per provider, deterministic token usage.

Behaviour is set per provider (``anthropic``) or per model id (``claude-sonnet-4-6``; the model wins):
answer 200, 429 with Retry-After, 500, 503, hang, or answer slowly. Every request is logged (provider, model,
status, max_tokens, time) so tests can see the exact order LiteLLM tried deployments in.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from infra.simulator.loopback import serve

Mode = Literal["ok", "429", "500", "503", "hang", "slow"]
PROVIDERS = ("openai", "anthropic", "gemini")
#: a hung request is released after this long at most, or when the simulator stops
MAX_HANG_S = 120.0


@dataclass(frozen=True)
class Behavior:
    mode: Mode = "ok"
    #: added before every answer (errors included when ``errors_too``); "slow" uses it as its delay
    delay_ms: float = 0.0
    retry_after_s: int = 1
    errors_too: bool = False


@dataclass
class LoggedRequest:
    provider: str
    model: str
    status: int
    max_tokens: int | None
    at: float


def _usage(text: str, max_tokens: int | None) -> tuple[int, int]:
    """Deterministic: 10 tokens of overhead plus one per 4 characters in; at most 16 out."""
    return 10 + len(text) // 4, min(16, max_tokens or 16)


def _prompt_text(payload: dict[str, Any], provider: str) -> str:
    if provider == "gemini":
        parts = [p.get("text", "") for c in payload.get("contents", []) for p in c.get("parts", [])]
        return " ".join(str(p) for p in parts)
    chunks: list[str] = []
    for message in payload.get("messages", []):
        content = message.get("content", "")
        if isinstance(content, list):
            chunks.extend(str(c.get("text", "")) for c in content if isinstance(c, dict))
        else:
            chunks.append(str(content))
    return " ".join(chunks)


def _answer(provider: str, model: str, prompt: str, max_tokens: int | None) -> dict[str, Any]:
    tokens_in, tokens_out = _usage(prompt, max_tokens)
    text = f"[{provider}/{model}] simulated answer"
    if provider == "openai":
        return {
            "id": "chatcmpl-sim",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": tokens_in,
                "completion_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        }
    if provider == "anthropic":
        return {
            "id": "msg_sim",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out},
        }
    return {
        "candidates": [
            {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": tokens_in,
            "candidatesTokenCount": tokens_out,
            "totalTokenCount": tokens_in + tokens_out,
        },
        "modelVersion": model,
    }


_ERRORS: dict[str, dict[int, dict[str, Any]]] = {
    "openai": {
        429: {
            "error": {
                "message": "Rate limit reached (simulated)",
                "type": "rate_limit_error",
                "code": "rate_limit_exceeded",
            }
        },
        500: {
            "error": {"message": "The server had an error (simulated)", "type": "server_error", "code": None}
        },
        503: {
            "error": {"message": "The engine is overloaded (simulated)", "type": "server_error", "code": None}
        },
    },
    "anthropic": {
        429: {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited (simulated)"}},
        500: {"type": "error", "error": {"type": "api_error", "message": "Internal error (simulated)"}},
        503: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded (simulated)"}},
    },
    "gemini": {
        429: {
            "error": {
                "code": 429,
                "message": "Resource exhausted (simulated)",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        500: {"error": {"code": 500, "message": "Internal error (simulated)", "status": "INTERNAL"}},
        503: {"error": {"code": 503, "message": "Unavailable (simulated)", "status": "UNAVAILABLE"}},
    },
}

_ROUTES = (
    ("openai", re.compile(r"^/openai(?:/v1)?/chat/completions$")),
    ("anthropic", re.compile(r"^/anthropic(?:/v1)?/messages$")),
    ("gemini", re.compile(r"^/gemini(?:/v1beta)?/models/(?P<model>[^/:]+):generateContent$")),
)


@dataclass
class ProviderSimulator:
    """``with ProviderSimulator().running() as sim: sim.api_bases()`` gives the URLs to render into a config."""

    port: int = 0
    #: delay of every healthy answer (0: bare loopback; 200 ms is close to a real provider)
    healthy_delay_ms: float = 0.0
    behaviors: dict[str, Behavior] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- control ---------------------------------------------------------------------------------------------
    def set(self, target: str, behavior: Behavior | Mode) -> None:
        """``target``: a provider (openai, anthropic, gemini) or a model id."""
        with self._lock:
            self.behaviors[target] = behavior if isinstance(behavior, Behavior) else Behavior(mode=behavior)

    def reset(self) -> None:
        with self._lock:
            self.behaviors.clear()
            self.log.clear()

    def behavior_for(self, provider: str, model: str) -> Behavior:
        with self._lock:
            return self.behaviors.get(model) or self.behaviors.get(provider) or Behavior()

    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self.log)

    @property
    def url(self) -> str:
        assert self._server is not None, "the simulator is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def api_bases(self) -> dict[str, str]:
        """Provider kind -> the api_base LiteLLM should use for it."""
        return {
            "openai": f"{self.url}/openai/v1",
            "anthropic": f"{self.url}/anthropic",
            "gemini": f"{self.url}/gemini/v1beta",
        }

    # -- serving ---------------------------------------------------------------------------------------------
    def handle(self, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = path.split("?", 1)[0]
        if path == "/_control/log":
            return 200, {}, json.dumps([asdict(r) for r in self.requests()]).encode()
        for provider, pattern in _ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            try:
                payload = json.loads(body or b"{}")
            except json.JSONDecodeError:
                return 400, {}, json.dumps({"error": {"message": "invalid JSON"}}).encode()
            model = match.groupdict().get("model") or str(payload.get("model", "unknown"))
            max_tokens = payload.get("max_tokens") or payload.get("max_completion_tokens")
            if provider == "gemini":
                generation = payload.get("generationConfig") or payload.get("generation_config") or {}
                max_tokens = generation.get("maxOutputTokens") or generation.get("max_output_tokens")
            return self._respond(provider, model, payload, max_tokens)
        return 404, {}, json.dumps({"error": {"message": f"no such endpoint: {path}"}}).encode()

    def _respond(
        self, provider: str, model: str, payload: dict[str, Any], max_tokens: int | None
    ) -> tuple[int, dict[str, str], bytes]:
        behavior = self.behavior_for(provider, model)
        delay = (
            behavior.delay_ms
            if behavior.mode == "slow"
            else (behavior.delay_ms if behavior.errors_too else 0.0)
        )
        if behavior.mode in ("ok", "slow"):
            delay = max(delay, self.healthy_delay_ms)
        if behavior.mode == "hang":
            self._stopping.wait(MAX_HANG_S)
            status = 504
            answer: dict[str, Any] = {"error": {"message": "hung (simulated)"}}
        elif behavior.mode in ("429", "500", "503"):
            status = int(behavior.mode)
            answer = _ERRORS[provider][status]
        else:
            status = 200
            answer = _answer(provider, model, _prompt_text(payload, provider), max_tokens)
        if delay:
            self._stopping.wait(delay / 1000)
        headers = {"retry-after": str(behavior.retry_after_s)} if status == 429 else {}
        with self._lock:
            self.log.append(LoggedRequest(provider, model, status, max_tokens, time.time()))
        return status, headers, json.dumps(answer).encode()

    @contextmanager
    def running(self) -> Iterator[ProviderSimulator]:
        simulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real provider
            disable_nagle_algorithm = (
                True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
            )

            def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                self._reply(*simulator.handle(self.path, self.rfile.read(length)))

            def do_GET(self) -> None:
                self._reply(*simulator.handle(self.path, b""))

            def log_message(self, *args: Any) -> None:
                return None

        self._stopping.clear()
        try:
            with serve(Handler, self.port) as server:
                self._server = server
                yield self
                self._stopping.set()  # releases hung requests before the server waits for them
        finally:
            self._stopping.set()
