"""The faults the simulator injects, and what each provider sends when it fails (whole answers and mid-stream)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from infra.simulator import anthropic_wire, gemini_wire, openai_wire
from infra.simulator.reply import Frame, Reply

Mode = Literal["ok", "429", "500", "503", "hang", "slow", "stall", "stream_error"]
#: a hung request is released after this long at most, or when the simulator stops, or when its client leaves
MAX_HANG_S = 120.0


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

    @property
    def answers(self) -> bool:
        """Whether a request under this behaviour gets (at least the start of) a real answer."""
        return self.mode in ("ok", "slow", "stall", "stream_error")


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


def failure_reply(provider: str, behavior: Behavior, *, stream: bool) -> Reply | None:
    """The whole-answer failure ``behavior`` causes, or None when the request is answered (perhaps badly)."""
    if behavior.mode == "hang" or (behavior.mode == "stall" and not stream):
        return Reply(504, {"error": {"message": "hung (simulated)"}})
    if behavior.mode == "stream_error" and not stream:
        return Reply(500, _ERRORS[provider][500])
    if behavior.mode in ("429", "500", "503"):
        status = int(behavior.mode)
        reply = Reply(status, _ERRORS[provider][status])
        if status == 429:
            reply.headers["retry-after"] = str(behavior.retry_after_s)
        return reply
    return None


def mid_stream_error(provider: str, endpoint: str, *, alt_sse: bool) -> Callable[[int], Frame]:
    """The provider's in-stream error event, given how many frames went out before it."""
    if provider == "anthropic":
        return lambda sent: anthropic_wire.mid_stream_error()
    if provider == "gemini":
        return lambda sent: gemini_wire.mid_stream_error(alt_sse=alt_sse, opened=sent > 0)
    return lambda sent: openai_wire.mid_stream_error(endpoint, sequence_number=sent)
