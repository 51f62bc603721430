"""The simulator: one loopback HTTP server, one path prefix per provider, deterministic token usage.

Endpoints (the provider's own paths under a per-provider prefix; ``api_bases()`` gives what LiteLLM needs):

* ``/openai/v1/chat/completions``, ``/openai/v1/completions``, ``/openai/v1/responses`` (plain and streamed);
* ``/anthropic/v1/messages`` (plain and streamed, tool use);
* ``/gemini/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent`` (``?alt=sse`` or a JSON array).

Behaviour is set per provider (``anthropic``) or per model id (``claude-sonnet-4-6``; the model wins): answer 200,
429 with Retry-After, 500, 503, hang, answer slowly, stall a stream after a few deltas or break it with the
provider's own in-stream error (``faults.py``). Every request is logged (provider, model, status, max_tokens, time,
endpoint, streamed, usage, deltas sent, whether the client hung up) so tests can see the exact order LiteLLM tried
deployments in and what each stream delivered. How replies are written is ``http_handler.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.simulator import anthropic_wire, gemini_wire, openai_wire
from infra.simulator.answer import SimulatedAnswer, answer_for, asks_for_json, prompt_text
from infra.simulator.faults import Behavior, Mode, failure_reply, mid_stream_error
from infra.simulator.http_handler import handler_for
from infra.simulator.loopback import serve
from infra.simulator.reply import Reply

__all__ = ["Behavior", "LoggedRequest", "Mode", "ProviderSimulator"]


@dataclass
class LoggedRequest:
    provider: str
    model: str
    status: int
    max_tokens: int | None
    at: float
    #: chat, completions, responses, messages, generateContent, streamGenerateContent
    endpoint: str = ""
    stream: bool = False
    #: the usage the answer reports (0 for an error): every choice counted
    input_tokens: int = 0
    output_tokens: int = 0
    choices: int = 1
    #: deltas (generated pieces) actually written to the client; equals output tokens for a finished text stream
    deltas_sent: int = 0
    #: the client hung up before the answer was complete
    disconnected: bool = False
    finished: bool = False
    #: the stream ended with the provider's in-stream error event ("stream_error" fault)
    stream_error: bool = False


Renderer = Callable[[SimulatedAnswer, dict[str, Any], dict[str, list[str]]], Reply]

#: provider, endpoint name, path pattern, how to render the answer
_ROUTES: tuple[tuple[str, str, re.Pattern[str], Renderer], ...] = (
    (
        "openai",
        "chat",
        re.compile(r"^/openai(?:/v1)?/chat/completions$"),
        lambda a, p, q: openai_wire.chat_completion(a, p),
    ),
    (
        "openai",
        "completions",
        re.compile(r"^/openai(?:/v1)?/completions$"),
        lambda a, p, q: openai_wire.text_completion(a, p),
    ),
    (
        "openai",
        "responses",
        re.compile(r"^/openai(?:/v1)?/responses$"),
        lambda a, p, q: openai_wire.responses(a, p),
    ),
    (
        "anthropic",
        "messages",
        re.compile(r"^/anthropic(?:/v1)?/messages$"),
        lambda a, p, q: anthropic_wire.messages(a, p),
    ),
    (
        "gemini",
        "generateContent",
        re.compile(r"^/gemini(?:/v1beta)?/models/(?P<model>[^/:]+):generateContent$"),
        lambda a, p, q: gemini_wire.generate_content(a, p),
    ),
    (
        "gemini",
        "streamGenerateContent",
        re.compile(r"^/gemini(?:/v1beta)?/models/(?P<model>[^/:]+):streamGenerateContent$"),
        lambda a, p, q: gemini_wire.stream_generate_content(a, p, alt_sse=q.get("alt") == ["sse"]),
    ),
)


def _max_tokens(provider: str, endpoint: str, payload: dict[str, Any]) -> int | None:
    if provider == "gemini":
        generation = payload.get("generationConfig") or payload.get("generation_config") or {}
        return generation.get("maxOutputTokens") or generation.get("max_output_tokens")
    if endpoint == "responses":
        return payload.get("max_output_tokens")
    return payload.get("max_tokens") or payload.get("max_completion_tokens")


def _tool_choice(provider: str, payload: dict[str, Any]) -> Any:
    if provider == "gemini":
        config = payload.get("toolConfig") or payload.get("tool_config") or {}
        return config.get("functionCallingConfig") or config.get("function_calling_config")
    return payload.get("tool_choice")


@dataclass
class ProviderSimulator:
    """``with ProviderSimulator().running() as sim: sim.api_bases()`` gives the URLs to render into a config."""

    port: int = 0
    #: the address to bind; 127.0.0.1 keeps it off the network (``python -m infra.simulator --host`` changes it)
    host: str = "127.0.0.1"
    #: delay of every healthy answer before it starts (0: bare loopback; 200 ms is close to a real provider)
    healthy_delay_ms: float = 0.0
    #: delay before every delta of a healthy stream (0: all at once; 10-30 ms is a real model's pace)
    healthy_chunk_delay_ms: float = 0.0
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
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self._server.server_address[1]}"

    def api_bases(self) -> dict[str, str]:
        """Provider kind -> the api_base LiteLLM should use for it."""
        return {
            "openai": f"{self.url}/openai/v1",
            "anthropic": f"{self.url}/anthropic",
            "gemini": f"{self.url}/gemini/v1beta",
        }

    # -- answering -------------------------------------------------------------------------------------------
    def handle(self, path: str, body: bytes) -> tuple[Reply, Behavior, LoggedRequest | None]:
        """What to answer to ``path``: the reply, the fault in force, and the log entry (None for non-provider
        paths). Waiting (delays, hangs) and writing are the HTTP handler's job, so a hang can end early."""
        url = urlsplit(path)
        if url.path == "/_control/log":
            return Reply(200, [asdict(r) for r in self.requests()]), Behavior(), None
        for provider, endpoint, pattern, render in _ROUTES:
            match = pattern.match(url.path)
            if match is None:
                continue
            try:
                payload = json.loads(body or b"{}")
            except json.JSONDecodeError:
                return Reply(400, {"error": {"message": "invalid JSON"}}), Behavior(), None
            model = match.groupdict().get("model") or str(payload.get("model", "unknown"))
            max_tokens = _max_tokens(provider, endpoint, payload)
            behavior = self.behavior_for(provider, model)
            stream = bool(payload.get("stream")) or endpoint == "streamGenerateContent"
            entry = LoggedRequest(provider, model, 200, max_tokens, time.time(), endpoint, stream)
            failure = failure_reply(provider, behavior, stream=stream)
            if failure is not None:
                entry.status, reply = failure.status, failure
            else:
                choices = {
                    "openai": int(payload.get("n") or 1),
                    "gemini": gemini_wire.candidate_count(payload),
                }.get(provider, 1)
                answer = answer_for(
                    provider,
                    model,
                    prompt_text(payload, provider),
                    max_tokens,
                    choices=choices,
                    generated=int(payload.get("best_of") or 0) if endpoint == "completions" else 0,
                    tools=payload.get("tools"),
                    tool_choice=_tool_choice(provider, payload),
                    json_mode=asks_for_json(provider, payload),
                )
                entry.input_tokens, entry.output_tokens, entry.choices = (
                    answer.input_tokens,
                    answer.output_tokens,
                    answer.choices,
                )
                query = parse_qs(url.query)
                reply = render(answer, payload, query)
                if behavior.mode == "stream_error":
                    reply.error_frame = mid_stream_error(
                        provider, endpoint, alt_sse=query.get("alt") == ["sse"]
                    )
            with self._lock:
                self.log.append(entry)
            return reply, behavior, entry
        return Reply(404, {"error": {"message": f"no such endpoint: {url.path}"}}), Behavior(), None

    @property
    def stopping(self) -> threading.Event:
        """Set when the simulator stops: every wait (hang, stall, delay) ends early."""
        return self._stopping

    def record(self, entry: LoggedRequest | None, **changes: Any) -> None:
        """Update a logged request as its answer goes out (deltas sent, finished, hung up)."""
        if entry is None:
            return
        with self._lock:
            for key, value in changes.items():
                setattr(entry, key, value)

    # -- serving ---------------------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[ProviderSimulator]:
        with serve(handler_for(self), self.port, self.host) as server:
            self._stopping.clear()
            self._server = server
            try:
                yield self
            finally:
                self._stopping.set()  # releases hung requests before the server waits for them
