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

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: Responses API events whose ``response`` holds the final usage
_RESPONSES_FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
#: how long a completed stream waits for LiteLLM's logging task to assemble its usage
ASSEMBLY_WAIT_S = 0.2


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
    #: the last chunk's ``_hidden_params``: LiteLLM writes the stream's final usage there once the provider's
    #: stream ended, when the client did not get a usage chunk (streaming_handler.py, ``_finalize_completed_stream``)
    _last_hidden: Any = None
    #: called with (choice index, text) for each piece of the answer's text as it is delivered (not tool calls or
    #: reasoning): the records keep it when ``log_content`` is on (content.py)
    on_text: Callable[[int, str], None] | None = None

    def _answer(self, index: Any, value: Any) -> None:
        self.delivered_bytes += _text_bytes(value)
        if self.on_text is not None and isinstance(value, str) and value:
            self.on_text(index if isinstance(index, int) else 0, value)

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
        self._last_hidden = getattr(chunk, "_hidden_params", None)
        for choice in getattr(chunk, "choices", None) or []:
            index: Any = getattr(choice, "index", None)
            self._answer(index, getattr(choice, "text", None))
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            self._answer(index, getattr(delta, "content", None))
            self.delivered_bytes += _text_bytes(getattr(delta, "reasoning_content", None))
            for call in getattr(delta, "tool_calls", None) or []:
                function = getattr(call, "function", None)
                self.delivered_bytes += _text_bytes(getattr(function, "name", None))
                self.delivered_bytes += _text_bytes(getattr(function, "arguments", None))
        usage = getattr(chunk, "usage", None)
        # text-completion chunks carry an all-zero Usage until the end (measured): only a real count is usage
        if usage is not None and (
            getattr(usage, "prompt_tokens", 0) or getattr(usage, "completion_tokens", 0)
        ):
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
                    if isinstance(payload, Mapping) and "choices" in payload:
                        self._observe_openai_event(payload)
                    elif isinstance(payload, Mapping):
                        self._observe_anthropic_event(payload)

    def _observe_openai_event(self, event: Mapping[str, Any]) -> None:
        """An already serialized OpenAI chunk (``/v1/completions`` streams reach the hook as SSE text)."""
        for choice in event.get("choices") or []:
            if not isinstance(choice, Mapping):
                continue
            self._answer(choice.get("index"), choice.get("text"))
            delta = choice.get("delta") or {}
            if isinstance(delta, Mapping):
                self._answer(choice.get("index"), delta.get("content"))
        usage = event.get("usage")
        if isinstance(usage, Mapping) and usage.get("completion_tokens") is not None:
            self.input_tokens = int(usage.get("prompt_tokens") or 0)
            self.output_tokens = int(usage["completion_tokens"])
            self.final = True

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
            self._answer(0, delta.get("text"))
            for key in ("partial_json", "thinking"):
                self.delivered_bytes += _text_bytes(delta.get(key))
        elif kind == "message_delta":
            usage = event.get("usage") or {}
            # LiteLLM's translation of an OpenAI or Gemini answer into Messages events sends the input tokens here,
            # not in message_start (measured: 0 there); Anthropic itself may repeat them here too
            delta_input = sum(
                int(usage.get(key) or 0)
                for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
            )
            self.input_tokens = max(self.input_tokens or 0, delta_input)
            if usage.get("output_tokens") is not None:
                self.output_tokens = int(usage["output_tokens"])
                self.final = True

    # -- /v1/responses ---------------------------------------------------------------------------------------
    def _observe_responses_event(self, event: Any, kind: str) -> None:
        if kind == "response.output_text.delta":
            self._answer(0, getattr(event, "delta", None))
        elif kind.endswith(".delta"):
            self.delivered_bytes += _text_bytes(getattr(event, "delta", None))
        elif kind in _RESPONSES_FINAL:
            usage = getattr(getattr(event, "response", None), "usage", None)
            if usage is not None and getattr(usage, "output_tokens", None) is not None:
                self.input_tokens = int(getattr(usage, "input_tokens", 0) or 0)
                self.output_tokens = int(usage.output_tokens)
                self.final = True

    def adopt(self, usage: tuple[int, int] | None) -> None:
        """The usage LiteLLM assembled once the stream completed, when the chunks did not show it (a Claude or
        Gemini deployment behind ``/v1/chat/completions``: ``drop_params`` drops ``stream_options`` for them, but
        LiteLLM still reads their usage events)."""
        if usage is not None and not self.final:
            self.input_tokens, self.output_tokens = usage
            self.final = True

    async def finish(self, logging_obj: Any, completed: bool) -> None:
        """At the end of the stream: the final usage LiteLLM recorded, if the chunks themselves did not carry it.

        For a completed stream whose usage only LiteLLM's success logging assembles (``/v1/completions`` on a
        Claude or Gemini deployment), wait a moment for that task (bounded: ``ASSEMBLY_WAIT_S``).
        """
        if self.final:
            return
        hidden_usage = self._last_hidden.get("usage") if isinstance(self._last_hidden, dict) else None
        if hidden_usage is not None:
            self.adopt(_tokens(hidden_usage))
            return
        deadline = time.monotonic() + (ASSEMBLY_WAIT_S if completed else 0.0)
        while (usage := assembled_usage(logging_obj)) is None and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        self.adopt(usage)

    @property
    def generated_nothing(self) -> bool:
        """No output and no usage: the provider failed before it generated anything (nothing to bill)."""
        return self.delivered_bytes == 0 and self.input_tokens is None and self.output_tokens is None

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


def assembled_usage(logging_obj: Any) -> tuple[int, int] | None:
    """(input, output) tokens of the response LiteLLM assembled from a completed stream, None before it completes.

    LiteLLM's success logging stores it in ``model_call_details["async_complete_streaming_response"]`` after the
    provider's stream ended (a task it schedules, so it may land a moment after the stream's last chunk; never
    after a disconnect). Its usage is the provider's when the stream carried one.
    """
    details = getattr(logging_obj, "model_call_details", None)
    if not isinstance(details, dict):
        return None
    assembled = details.get("async_complete_streaming_response") or details.get("complete_streaming_response")
    usage = assembled.get("usage") if isinstance(assembled, Mapping) else getattr(assembled, "usage", None)
    return None if usage is None else _tokens(usage)


def _tokens(usage: Any) -> tuple[int, int] | None:
    """(input, output) from a chat ``Usage`` or a Responses/Anthropic usage, as an object or a dict."""

    def read(*names: str) -> int | None:
        for name in names:
            value = usage.get(name) if isinstance(usage, Mapping) else getattr(usage, name, None)
            if isinstance(value, int):
                return value
        return None

    input_tokens, output_tokens = (
        read("prompt_tokens", "input_tokens"),
        read("completion_tokens", "output_tokens"),
    )
    if input_tokens is None or output_tokens is None or input_tokens + output_tokens == 0:
        return (
            None  # LiteLLM assembles 0/0 when the stream carried no usage (OpenAI text completions): unknown
        )
    return input_tokens, output_tokens
