"""Anthropic's Messages API (``/v1/messages``), plain and streamed, with tool use when the request offers tools.

Shapes follow the Anthropic Python SDK's types (``anthropic/types/message.py``, ``usage.py``,
``raw_message_{start,delta,stop}_event.py``, ``raw_content_block_{start,delta,stop}_event.py``,
``text_delta.py``, ``input_json_delta.py``, ``tool_use_block.py``, ``message_delta_usage.py``) and its stream
parser (``anthropic/_streaming.py``: it skips ``event: ping``, raises on ``event: error``, parses the rest).
Event order and the usage rule are the ones in Anthropic's "Streaming Messages" guide: ``message_start`` carries
the input usage, ``message_delta`` the cumulative output tokens and ``stop_reason``.
"""

from __future__ import annotations

from typing import Any

from infra.simulator.answer import SimulatedAnswer
from infra.simulator.reply import Frame, Reply, sse, sse_reply


def _calls_tool(payload: dict[str, Any], answer: SimulatedAnswer) -> bool:
    """``tool_choice: {"type": "none"}`` forbids tools (Messages API reference, ``tool_choice``)."""
    choice = payload.get("tool_choice") or {}
    return answer.tool_call is not None and choice.get("type") != "none"


def _blocks(answer: SimulatedAnswer, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """A text block, then a ``tool_use`` block when a tool is called (how Claude usually answers with tools).

    A forced tool (``tool_choice`` ``any`` or ``tool``) comes without the text block: Anthropic prefills the
    assistant turn, so "the model will not emit a natural language response or explanation before tool_use
    content blocks" (Anthropic docs, tool use, "Forcing tool use")."""
    choice = (payload.get("tool_choice") or {}).get("type")
    forced = choice in ("any", "tool") and _calls_tool(payload, answer)
    blocks: list[dict[str, Any]] = [] if forced else [{"type": "text", "text": answer.text}]
    if _calls_tool(payload, answer) and answer.tool_call is not None:
        call = answer.tool_call
        blocks.append(
            {"type": "tool_use", "id": f"toolu_{call.id}", "name": call.name, "input": call.arguments}
        )
    return blocks


def _message(
    answer: SimulatedAnswer,
    payload: dict[str, Any],
    *,
    content: list[dict[str, Any]],
    stop: str | None,
    out: int,
) -> dict[str, Any]:
    return {
        "id": "msg_sim",
        "type": "message",
        "role": "assistant",
        "model": answer.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": answer.input_tokens,
            "output_tokens": out,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _stop_reason(answer: SimulatedAnswer, payload: dict[str, Any]) -> str:
    return "tool_use" if _calls_tool(payload, answer) else "end_turn"


def messages(answer: SimulatedAnswer, payload: dict[str, Any]) -> Reply:
    blocks = _blocks(answer, payload)
    if not payload.get("stream"):
        stop = _stop_reason(answer, payload)
        return Reply(200, _message(answer, payload, content=blocks, stop=stop, out=answer.output_tokens))
    return sse_reply(_events(answer, payload, blocks))


def _events(answer: SimulatedAnswer, payload: dict[str, Any], blocks: list[dict[str, Any]]) -> list[Frame]:
    # message_start: empty content, input usage, the output count so far (the guide's example shows 1)
    start = _message(answer, payload, content=[], stop=None, out=1)
    frames = [sse({"type": "message_start", "message": start}, "message_start")]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in answer.text_deltas()]
        else:  # tool_use opens with an empty input; its JSON arrives as partial_json pieces
            opening = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in answer.argument_deltas()]
        frames.append(
            sse(
                {"type": "content_block_start", "index": index, "content_block": opening},
                "content_block_start",
            )
        )
        if index == 0:  # the guide's stream sends a ping after the first block opens; the SDK ignores it
            frames.append(sse({"type": "ping"}, "ping"))
        frames.extend(
            sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
                content=True,
            )
            for delta in deltas
        )
        frames.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _stop_reason(answer, payload), "stop_sequence": None},
        # cumulative output tokens of the whole message (MessageDeltaUsage.output_tokens)
        "usage": {"output_tokens": answer.output_tokens},
    }
    frames.append(sse(delta, "message_delta"))
    frames.append(sse({"type": "message_stop"}, "message_stop"))
    return frames


def mid_stream_error() -> Frame:
    """An ``error`` event after the stream began, as Anthropic sends when it is overloaded mid-answer (streaming
    guide, "Error events"); anthropic/_streaming.py raises it as a status error."""
    error = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded (simulated, mid-stream)"},
    }
    return sse(error, "error")
