"""What a simulated endpoint answers: one JSON body, or a stream of frames the server writes one at a time."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Frame:
    """One piece of a streamed answer as it goes on the wire.

    ``content`` marks a frame that carries generated output (a text or tool-argument delta): the ``stall`` fault
    counts those, and the ``slow`` fault waits before each of them, as a real model spends its time there.
    """

    data: bytes
    content: bool = False


def sse(payload: dict[str, Any] | str, event: str | None = None, *, content: bool = False) -> Frame:
    """A server-sent event: optional ``event:`` line, one ``data:`` line, a blank line (the framing both SDKs parse:
    openai/_streaming.py and anthropic/_streaming.py ``SSEDecoder``)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return Frame(f"{head}data: {data}\n\n".encode(), content)


@dataclass
class Reply:
    status: int
    body: Any = None
    #: set for a streamed answer (then ``body`` is unused)
    frames: list[Frame] | None = None
    media_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    #: the provider's in-stream error event, given how many frames went out before it ("stream_error" fault)
    error_frame: Callable[[int], Frame] | None = None

    @property
    def streamed(self) -> bool:
        return self.frames is not None

    def encoded_body(self) -> bytes:
        return json.dumps(self.body).encode()


def sse_reply(frames: list[Frame]) -> Reply:
    return Reply(200, frames=frames, media_type="text/event-stream")
