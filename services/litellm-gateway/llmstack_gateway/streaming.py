"""What a stream generated, measured from the chunks LiteLLM hands to ``async_post_call_streaming_iterator_hook``.

The chunk types are the ones the proxy passes through that hook in litellm 1.108.7 (measured with a probe logger
through the real proxy, see the service README):

* ``/v1/chat/completions`` and ``/v1/completions``: ``ModelResponseStream`` objects; the provider's usage is on the
  last chunk when ``stream_options.include_usage`` is on (the hook turns it on and lets LiteLLM strip that chunk
  again when the client did not ask for it: ``_litellm_strip_stream_usage``, proxy/common_request_processing.py
  ``stream_usage_tracking_updates``);
* ``/v1/messages``: raw Anthropic SSE bytes (``event: message_start`` ... ``message_stop``), whatever the
  provider behind the group; ``message_start`` carries the input tokens, ``message_delta`` the output so far
  (Anthropic's streaming docs: "the token counts in usage ... are cumulative");
* ``/v1/responses``: the Responses API's event objects; ``response.completed`` (or ``incomplete``/``failed``)
  carries the usage, ``*.delta`` events the generated text.

When the stream ends before the provider's final usage (a disconnect, a provider error mid-stream), the cost is
a bound: every delivered byte of generated text counted as one output token (a BPE token is at least one
byte), never less than the output tokens the provider reported so far.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Responses API events whose ``response`` holds the final usage
_RESPONSES_FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


def _text_bytes(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else 0


@dataclass
class StreamMeter:
    """Fed every chunk of one stream; ``cost`` says what it generated so far."""

    #: the request's input, bounded from above before the call (used when the provider never said)
    input_bound: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    #: True once the provider's final usage arrived: the cost is then exact
    final: bool = False
    delivered_bytes: int = 0
    chunks: int = 0
    _sse_tail: bytes = b""

    def observe(self, chunk: Any) -> None:
        self.chunks += 1
        if isinstance(chunk, (bytes, bytearray, str)):
            self._observe_sse(chunk.encode() if isinstance(chunk, str) else bytes(chunk))
            return
        kind = getattr(chunk, "type", None)
        if isinstance(kind, str) or (hasattr(kind, "value") and not hasattr(chunk, "choices")):
            self._observe_responses_event(chunk, str(getattr(kind, "value", kind)))
            return
        self._observe_completion_chunk(chunk)

    # -- /v1/chat/completions, /v1/completions ---------------------------------------------------------------
    def _observe_completion_chunk(self, chunk: Any) -> None:
        for choice in getattr(chunk, "choices", None) or []:
            self.delivered_bytes += _text_bytes(getattr(choice, "text", None))
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            self.delivered_bytes += _text_bytes(getattr(delta, "content", None))
            self.delivered_bytes += _text_bytes(getattr(delta, "reasoning_content", None))
            for call in getattr(delta, "tool_calls", None) or []:
                function = getattr(call, "function", None)
                self.delivered_bytes += _text_bytes(getattr(function, "name", None))
                self.delivered_bytes += _text_bytes(getattr(function, "arguments", None))
        usage = getattr(chunk, "usage", None)
        if usage is not None and getattr(usage, "completion_tokens", None) is not None:
            self.input_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
            self.output_tokens = int(usage.completion_tokens)
            self.final = True

    # -- /v1/messages (Anthropic SSE bytes) ------------------------------------------------------------------
    def _observe_sse(self, data: bytes) -> None:
        buffer = self._sse_tail + data
        *events, self._sse_tail = buffer.replace(b"\r\n", b"\n").split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    try:
                        payload = json.loads(line[5:].strip() or b"null")
                    except ValueError:
                        continue
                    if isinstance(payload, Mapping):
                        self._observe_anthropic_event(payload)

    def _observe_anthropic_event(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        if kind == "message_start":
            usage = (event.get("message") or {}).get("usage") or {}
            self.input_tokens = sum(
                int(usage.get(key) or 0)
                for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            )
            self.output_tokens = int(usage.get("output_tokens") or 0)
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            for key in ("text", "partial_json", "thinking"):
                self.delivered_bytes += _text_bytes(delta.get(key))
        elif kind == "message_delta":
            usage = event.get("usage") or {}
            if usage.get("output_tokens") is not None:
                self.output_tokens = int(usage["output_tokens"])
                self.final = self.input_tokens is not None

    # -- /v1/responses ---------------------------------------------------------------------------------------
    def _observe_responses_event(self, event: Any, kind: str) -> None:
        if kind.endswith(".delta"):
            self.delivered_bytes += _text_bytes(getattr(event, "delta", None))
        elif kind in _RESPONSES_FINAL:
            usage = getattr(getattr(event, "response", None), "usage", None)
            if usage is not None and getattr(usage, "output_tokens", None) is not None:
                self.input_tokens = int(getattr(usage, "input_tokens", 0) or 0)
                self.output_tokens = int(usage.output_tokens)
                self.final = True

    # -- the result ------------------------------------------------------------------------------------------
    def tokens(self) -> tuple[int, int]:
        """(input, output) tokens to bill: the provider's final usage, else a bound never below what was sent."""
        if self.final and self.input_tokens is not None and self.output_tokens is not None:
            return self.input_tokens, self.output_tokens
        input_tokens = self.input_tokens if self.input_tokens is not None else self.input_bound
        return input_tokens, max(self.output_tokens or 0, self.delivered_bytes)

    def cost(self, input_per_token: float, output_per_token: float) -> float:
        input_tokens, output_tokens = self.tokens()
        return input_tokens * input_per_token + output_tokens * output_per_token
