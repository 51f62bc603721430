"""The simulator: one loopback HTTP server, one path prefix per provider, deterministic token usage.

Endpoints (the provider's own paths under a per-provider prefix; ``api_bases()`` gives what LiteLLM needs):

* ``/openai/v1/chat/completions``, ``/openai/v1/completions``, ``/openai/v1/responses`` (plain and streamed);
* ``/anthropic/v1/messages`` (plain and streamed, tool use);
* ``/gemini/v1beta/models/{model}:generateContent`` and ``:streamGenerateContent`` (``?alt=sse`` or a JSON array).

Behaviour is set per provider (``anthropic``) or per model id (``claude-sonnet-4-6``; the model wins): answer 200,
429 with Retry-After, 500, 503, hang, answer slowly, or stall a stream after a few deltas. Every request is logged
(provider, model, status, max_tokens, time, endpoint, streamed, usage, frames sent, whether the client hung up) so
tests can see the exact order LiteLLM tried deployments in and what each stream delivered.

A client hanging up is normal (a gateway timing out, a user closing a chat): it ends that request quietly.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from infra.simulator import anthropic_wire, gemini_wire, openai_wire
from infra.simulator.answer import SimulatedAnswer, answer_for, prompt_text
from infra.simulator.loopback import serve
from infra.simulator.reply import Frame, Reply

Mode = Literal["ok", "429", "500", "503", "hang", "slow", "stall", "stream_error"]
PROVIDERS = ("openai", "anthropic", "gemini")
#: a hung request is released after this long at most, or when the simulator stops, or when its client leaves
MAX_HANG_S = 120.0
#: the errors a socket raises when its peer has gone: an ordinary end of a request, not a failure
HANGUP_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


@dataclass(frozen=True)
class Behavior:
    mode: Mode = "ok"
    #: waited before the answer starts (errors included when ``errors_too``); "slow" also waits it before every
    #: delta of a stream
    delay_ms: float = 0.0
    retry_after_s: int = 1
    errors_too: bool = False
    #: waited before every delta of a streamed answer (time per token), in any mode that streams
    chunk_delay_ms: float = 0.0
    #: "stall": how many deltas a stream sends before it hangs (a non-streamed request just hangs);
    #: "stream_error": how many it sends before the provider's in-stream error event (non-streamed: a 500)
    stall_after: int = 2


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

_ERRORS: dict[str, dict[int, dict[str, Any]]] = {
    # openai: {"error": {message, type, code}} (API reference, "Error codes"); anthropic: {"type": "error",
    # "error": {type, message}} (API reference, "Errors"); gemini: google.rpc.Status {code, message, status}
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


def _max_tokens(provider: str, endpoint: str, payload: dict[str, Any]) -> int | None:
    if provider == "gemini":
        generation = payload.get("generationConfig") or payload.get("generation_config") or {}
        return generation.get("maxOutputTokens") or generation.get("max_output_tokens")
    if endpoint == "responses":
        return payload.get("max_output_tokens")
    return payload.get("max_tokens") or payload.get("max_completion_tokens")


def _mid_stream_error(provider: str, endpoint: str, *, alt_sse: bool) -> Callable[[int], Frame]:
    if provider == "anthropic":
        return lambda sent: anthropic_wire.mid_stream_error()
    if provider == "gemini":
        return lambda sent: gemini_wire.mid_stream_error(alt_sse=alt_sse, opened=sent > 0)
    return lambda sent: openai_wire.mid_stream_error(endpoint, sequence_number=sent)


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
            if behavior.mode == "hang" or (behavior.mode == "stall" and not stream):
                entry.status = 504
                reply = Reply(504, {"error": {"message": "hung (simulated)"}})
            elif behavior.mode in ("429", "500", "503") or (behavior.mode == "stream_error" and not stream):
                entry.status = 500 if behavior.mode == "stream_error" else int(behavior.mode)
                reply = Reply(entry.status, _ERRORS[provider][entry.status])
                if entry.status == 429:
                    reply.headers["retry-after"] = str(behavior.retry_after_s)
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
                    tools=payload.get("tools"),
                    tool_choice=_tool_choice(provider, payload),
                )
                entry.input_tokens, entry.output_tokens, entry.choices = (
                    answer.input_tokens,
                    answer.output_tokens,
                    answer.choices,
                )
                query = parse_qs(url.query)
                reply = render(answer, payload, query)
                if behavior.mode == "stream_error":
                    reply.error_frame = _mid_stream_error(
                        provider, endpoint, alt_sse=query.get("alt") == ["sse"]
                    )
            with self._lock:
                self.log.append(entry)
            return reply, behavior, entry
        return Reply(404, {"error": {"message": f"no such endpoint: {url.path}"}}), Behavior(), None

    def _record(self, entry: LoggedRequest | None, **changes: Any) -> None:
        if entry is None:
            return
        with self._lock:
            for key, value in changes.items():
                setattr(entry, key, value)

    # -- serving ---------------------------------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator[ProviderSimulator]:
        with serve(_handler_for(self), self.port, self.host) as server:
            self._stopping.clear()
            self._server = server
            try:
                yield self
            finally:
                self._stopping.set()  # releases hung requests before the server waits for them


def _peer_left(connection: socket.socket) -> bool:
    """True once the client has closed its end: the socket reads as EOF (or reset) without blocking."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _handler_for(simulator: ProviderSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like a real provider
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def handle(self) -> None:
            # a client that resets its connection while we read its next request is a normal end
            try:
                super().handle()
            except HANGUP_ERRORS:
                self.close_connection = True

        def finish(self) -> None:
            with suppress(*HANGUP_ERRORS):
                super().finish()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            self._serve(simulator.handle(self.path, self.rfile.read(length)))

        def do_GET(self) -> None:
            self._serve(simulator.handle(self.path, b""))

        def log_message(self, *args: Any) -> None:
            return None

        def _wait(self, seconds: float) -> bool:
            """Wait up to ``seconds`` (ends early when the simulator stops); False if the client hung up."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if simulator._stopping.wait(min(left, 0.05)):
                    return not _peer_left(self.connection)
                if _peer_left(self.connection):
                    return False
            return True

        def _serve(self, handled: tuple[Reply, Behavior, LoggedRequest | None]) -> None:
            reply, behavior, entry = handled
            ok = reply.status == 200 and behavior.mode in ("ok", "slow", "stall", "stream_error")
            delay = behavior.delay_ms if (ok and behavior.mode == "slow") or behavior.errors_too else 0.0
            if ok:
                delay = max(delay, simulator.healthy_delay_ms)
            if reply.status == 504 and not self._wait(MAX_HANG_S):
                return self._hung_up(entry)
            if delay and not self._wait(delay / 1000):
                return self._hung_up(entry)
            try:
                if reply.frames is None:
                    self._send_whole(reply, entry)
                else:
                    self._send_stream(reply, behavior, entry)
            except HANGUP_ERRORS:
                self._hung_up(entry)
            return None

        def _hung_up(self, entry: LoggedRequest | None) -> None:
            simulator._record(entry, disconnected=True)
            self.close_connection = True

        def _send_whole(self, reply: Reply, entry: LoggedRequest | None) -> None:
            payload = reply.encoded_body()
            self.send_response(reply.status)
            self.send_header("content-type", reply.media_type)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            simulator._record(entry, finished=True)

        def _send_stream(self, reply: Reply, behavior: Behavior, entry: LoggedRequest | None) -> None:
            """Chunked transfer encoding, one HTTP chunk per frame, written as it is produced."""
            self.send_response(reply.status)
            self.send_header("content-type", reply.media_type)
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            per_delta = behavior.chunk_delay_ms or (
                behavior.delay_ms if behavior.mode == "slow" else simulator.healthy_chunk_delay_ms
            )
            sent = 0
            for written, frame in enumerate(reply.frames or []):
                if frame.content and reply.error_frame is not None and sent >= behavior.stall_after:
                    error = reply.error_frame(written).data
                    self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(error), error))
                    simulator._record(entry, stream_error=True)
                    return None
                if frame.content:
                    if behavior.mode == "stall" and sent >= behavior.stall_after:
                        # never finishes: ends when the client leaves, or unfinished when the simulator stops
                        if not self._wait(MAX_HANG_S):
                            return self._hung_up(entry)
                        self.close_connection = True
                        return None
                    if per_delta and not self._wait(per_delta / 1000):
                        return self._hung_up(entry)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame.data), frame.data))
                if frame.content:
                    sent += 1
                    simulator._record(entry, deltas_sent=sent)
            self.wfile.write(b"0\r\n\r\n")
            simulator._record(entry, finished=True)
            return None

    return Handler
