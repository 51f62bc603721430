"""OpenAI's wire formats: ``/v1/chat/completions``, ``/v1/completions`` and ``/v1/responses``, plain and streamed.

Shapes follow the OpenAI Python SDK's own types (``openai/types/chat/chat_completion{,_chunk}.py``,
``openai/types/completion{,_choice}.py``, ``openai/types/completion_usage.py``, ``openai/types/responses/*.py``)
and its stream parser (``openai/_streaming.py``: SSE ``data:`` lines, the stream ends at ``data: [DONE]``; the
Responses stream names each event in its ``type`` and, on the wire, in an ``event:`` line).
"""

from __future__ import annotations

import time
from typing import Any

from infra.simulator.answer import SimulatedAnswer
from infra.simulator.reply import Frame, Reply, sse, sse_reply

#: openai/_streaming.py stops reading at this sentinel (chat and legacy completions streams only)
DONE = Frame(b"data: [DONE]\n\n")


def _usage(answer: SimulatedAnswer) -> dict[str, int]:
    """``CompletionUsage``: completion_tokens counts every one of the ``n`` choices (API reference, ``n``:
    "you will be charged based on the number of generated tokens across all of the choices")."""
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": answer.output_tokens,
        "total_tokens": answer.total_tokens,
    }


def _include_usage(payload: dict[str, Any]) -> bool:
    """The usage chunk is sent only when asked for (``stream_options: {"include_usage": true}``)."""
    options = payload.get("stream_options") or {}
    return bool(options.get("include_usage"))


def _wants_tool(payload: dict[str, Any], answer: SimulatedAnswer) -> bool:
    return answer.tool_call is not None and payload.get("tool_choice") != "none"


# -- /v1/chat/completions ---------------------------------------------------------------------------------------
def chat_completion(answer: SimulatedAnswer, payload: dict[str, Any]) -> Reply:
    if payload.get("stream"):
        return sse_reply(_chat_chunks(answer, payload))
    tool = answer.tool_call if _wants_tool(payload, answer) else None
    message: dict[str, Any] = {"role": "assistant", "content": None if tool else answer.text, "refusal": None}
    if tool is not None:
        message["tool_calls"] = [
            {
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": tool.arguments_json},
            }
        ]
    return Reply(
        200,
        {
            "id": "chatcmpl-sim",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": answer.model,
            "choices": [
                {
                    "index": index,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool else "stop",
                }
                for index in range(answer.choices)
            ],
            "usage": _usage(answer),
        },
    )


def _chat_chunks(answer: SimulatedAnswer, payload: dict[str, Any]) -> list[Frame]:
    """``ChatCompletionChunk``s: per choice a role chunk, one chunk per delta, a chunk with ``finish_reason``;
    with ``include_usage`` every chunk carries ``"usage": null`` and a last chunk has empty ``choices`` and the
    usage of the whole request (API reference, ``stream_options.include_usage``)."""
    include_usage = _include_usage(payload)
    created = int(time.time())
    tool = answer.tool_call if _wants_tool(payload, answer) else None

    def chunk(choices: list[dict[str, Any]], *, content: bool = False, usage: Any = None) -> Frame:
        body: dict[str, Any] = {
            "id": "chatcmpl-sim",
            "object": "chat.completion.chunk",
            "created": created,
            "model": answer.model,
            "system_fingerprint": None,
            "choices": choices,
        }
        if include_usage:
            body["usage"] = usage
        return sse(body, content=content)

    def choice(index: int, delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]

    frames: list[Frame] = []
    for index in range(answer.choices):
        if tool is None:
            frames.append(chunk(choice(index, {"role": "assistant", "content": "", "refusal": None})))
            frames.extend(
                chunk(choice(index, {"content": piece}), content=True) for piece in answer.text_deltas()
            )
            frames.append(chunk(choice(index, {}, "stop")))
            continue
        # a streamed tool call: the first chunk names the call, later ones append to its arguments by index
        # (ChoiceDeltaToolCall: index, id, type, function.name/arguments)
        head = {
            "index": 0,
            "id": tool.id,
            "type": "function",
            "function": {"name": tool.name, "arguments": ""},
        }
        frames.append(chunk(choice(index, {"role": "assistant", "content": None, "tool_calls": [head]})))
        frames.extend(
            chunk(
                choice(index, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), content=True
            )
            for piece in answer.argument_deltas()
        )
        frames.append(chunk(choice(index, {}, "tool_calls")))
    if include_usage:
        frames.append(chunk([], usage=_usage(answer)))
    frames.append(DONE)
    return frames


# -- /v1/completions (legacy) -----------------------------------------------------------------------------------
def text_completion(answer: SimulatedAnswer, payload: dict[str, Any]) -> Reply:
    """``Completion`` / ``CompletionChoice``: ``text`` per choice, ``object: "text_completion"`` for whole answers
    and for stream chunks alike; the usage chunk rule is the chat one."""
    created = int(time.time())

    def body(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": "cmpl-sim",
            "object": "text_completion",
            "created": created,
            "model": answer.model,
            "choices": choices,
            **extra,
        }

    def choice(index: int, text: str, finish: str | None) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": None, "finish_reason": finish}

    if not payload.get("stream"):
        choices = [choice(i, answer.text, "stop") for i in range(answer.choices)]
        return Reply(200, body(choices, usage=_usage(answer)))
    include_usage = _include_usage(payload)
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    frames: list[Frame] = []
    for index in range(answer.choices):
        frames.extend(
            sse(body([choice(index, p, None)], **extra), content=True) for p in answer.text_deltas()
        )
        frames.append(sse(body([choice(index, "", "stop")], **extra)))
    if include_usage:
        frames.append(sse(body([], usage=_usage(answer))))
    frames.append(DONE)
    return sse_reply(frames)


# -- /v1/responses ------------------------------------------------------------------------------------------------
def _response_usage(answer: SimulatedAnswer) -> dict[str, Any]:
    """``ResponseUsage``: input/output/total tokens with their detail objects (both required by the SDK type)."""
    return {
        "input_tokens": answer.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": answer.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": answer.total_tokens,
    }


def _output_items(answer: SimulatedAnswer, payload: dict[str, Any], *, done: bool) -> list[dict[str, Any]]:
    """``ResponseOutputMessage`` (an ``output_text`` part) or ``ResponseFunctionToolCall`` when a tool is called."""
    status = "completed" if done else "in_progress"
    tool = answer.tool_call if _wants_tool(payload, answer) else None
    if tool is not None:
        return [
            {
                "type": "function_call",
                "id": "fc_sim",
                "call_id": tool.id,
                "name": tool.name,
                "arguments": tool.arguments_json if done else "",
                "status": status,
            }
        ]
    content = (
        [{"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}] if done else []
    )
    return [{"type": "message", "id": "msg_sim", "role": "assistant", "status": status, "content": content}]


def _response(answer: SimulatedAnswer, payload: dict[str, Any], *, done: bool) -> dict[str, Any]:
    """``Response``: the fields the SDK type requires, ``usage`` once completed."""
    tools = payload.get("tools") or []
    return {
        "id": "resp_sim",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed" if done else "in_progress",
        "model": answer.model,
        "output": _output_items(answer, payload, done=done) if done else [],
        "parallel_tool_calls": bool(payload.get("parallel_tool_calls", True)),
        "tool_choice": payload.get("tool_choice", "auto"),
        "tools": tools,
        "max_output_tokens": payload.get("max_output_tokens"),
        "error": None,
        "incomplete_details": None,
        "instructions": payload.get("instructions"),
        "metadata": {},
        "temperature": payload.get("temperature"),
        "top_p": payload.get("top_p"),
        "usage": _response_usage(answer) if done else None,
    }


def responses(answer: SimulatedAnswer, payload: dict[str, Any]) -> Reply:
    if not payload.get("stream"):
        return Reply(200, _response(answer, payload, done=True))
    return sse_reply(_response_events(answer, payload))


def _response_events(answer: SimulatedAnswer, payload: dict[str, Any]) -> list[Frame]:
    """The documented order (openai/types/responses/response_stream_event.py; API reference "Streaming events"):
    created, in_progress, output_item.added, [content_part.added, output_text.delta x k, output_text.done,
    content_part.done | function_call_arguments.delta x k, .done], output_item.done, completed (with usage).
    Every event carries an increasing ``sequence_number``; there is no ``[DONE]`` sentinel."""
    frames: list[Frame] = []

    def emit(kind: str, content: bool = False, **fields: object) -> None:
        frames.append(sse({"type": kind, "sequence_number": len(frames), **fields}, kind, content=content))

    emit("response.created", response=_response(answer, payload, done=False))
    emit("response.in_progress", response=_response(answer, payload, done=False))
    (pending,) = _output_items(answer, payload, done=False)
    (finished,) = _output_items(answer, payload, done=True)
    emit("response.output_item.added", output_index=0, item=pending)
    if finished["type"] == "function_call":
        for piece in answer.argument_deltas():
            emit(
                "response.function_call_arguments.delta", True, item_id="fc_sim", output_index=0, delta=piece
            )
        emit(
            "response.function_call_arguments.done",
            item_id="fc_sim",
            output_index=0,
            name=finished["name"],
            arguments=finished["arguments"],
        )
    else:
        where: dict[str, Any] = {"item_id": "msg_sim", "output_index": 0, "content_index": 0}
        empty_part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        emit("response.content_part.added", **where, part=empty_part)
        for piece in answer.text_deltas():
            emit("response.output_text.delta", True, **where, delta=piece, logprobs=[])
        emit("response.output_text.done", **where, text=answer.text, logprobs=[])
        emit("response.content_part.done", **where, part=finished["content"][0])
    emit("response.output_item.done", output_index=0, item=finished)
    emit("response.completed", response=_response(answer, payload, done=True))
    return frames


def mid_stream_error(endpoint: str, sequence_number: int) -> Frame:
    """A server error after the stream began. Chat and completions streams carry ``{"error": {...}}`` in a data
    line (openai/_streaming.py raises ``APIError`` on it); a Responses stream sends an ``error`` event
    (``ResponseErrorEvent``: code, message, param, sequence_number)."""
    message = "The server had an error while processing your request (simulated, mid-stream)"
    if endpoint == "responses":
        return sse(
            {
                "type": "error",
                "code": "server_error",
                "message": message,
                "param": None,
                "sequence_number": sequence_number,
            },
            "error",
        )
    return sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
