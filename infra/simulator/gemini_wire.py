"""Google's Gemini API: ``models/{model}:generateContent`` and ``models/{model}:streamGenerateContent``.

Shapes are ``GenerateContentResponse`` from the Gemini API reference (``candidates[].content.parts[]``,
``finishReason``, ``usageMetadata.{promptTokenCount,candidatesTokenCount,totalTokenCount}``, ``modelVersion``),
the fields LiteLLM's parser reads (``litellm/llms/vertex_ai/gemini/vertex_and_google_ai_studio_gemini.py``,
``calculate_usage`` and ``ModelResponseIterator.chunk_parser``). A function call is one whole ``functionCall``
part (Gemini does not stream arguments piecewise).

Streaming: with ``?alt=sse`` (how LiteLLM calls it, ``vertex_llm_base.py`` appends ``alt=sse``) each chunk is a
``data:`` line and there is no end sentinel; without it the answer is one JSON array sent piece by piece. As in
captured real streams (e.g. the Vertex trace quoted on alm.pragmatismo.com.br GeneralBots ``out.txt``), only the
last chunk carries the token counts, together with ``finishReason`` and an empty text part.
"""

from __future__ import annotations

import json
from typing import Any

from infra.simulator.answer import SimulatedAnswer
from infra.simulator.reply import Frame, Reply, sse


def _usage(answer: SimulatedAnswer) -> dict[str, int]:
    return {
        "promptTokenCount": answer.input_tokens,
        "candidatesTokenCount": answer.output_tokens,
        "totalTokenCount": answer.total_tokens,
    }


def _calls_tool(payload: dict[str, Any], answer: SimulatedAnswer) -> bool:
    """``toolConfig.functionCallingConfig.mode: NONE`` forbids calls (API reference, ``FunctionCallingConfig``)."""
    config = payload.get("toolConfig") or payload.get("tool_config") or {}
    calling = config.get("functionCallingConfig") or config.get("function_calling_config") or {}
    return answer.tool_call is not None and str(calling.get("mode", "AUTO")).upper() != "NONE"


def candidate_count(payload: dict[str, Any]) -> int:
    """``generationConfig.candidateCount`` (LiteLLM maps OpenAI's ``n`` to it, as ``candidate_count``)."""
    generation = payload.get("generationConfig") or payload.get("generation_config") or {}
    return int(generation.get("candidateCount") or generation.get("candidate_count") or 1)


def _candidate(parts: list[dict[str, Any]], finish: str | None, index: int = 0) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": index}
    if finish is not None:
        candidate["finishReason"] = finish
    return candidate


def _parts(answer: SimulatedAnswer, payload: dict[str, Any]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = [{"text": answer.text}]
    if _calls_tool(payload, answer) and answer.tool_call is not None:
        parts.append({"functionCall": {"name": answer.tool_call.name, "args": answer.tool_call.arguments}})
    return parts


def generate_content(answer: SimulatedAnswer, payload: dict[str, Any]) -> Reply:
    return Reply(
        200,
        {
            "candidates": [_candidate(_parts(answer, payload), "STOP", i) for i in range(answer.choices)],
            "usageMetadata": _usage(answer),
            "modelVersion": answer.model,
            "responseId": "gemini-sim",
        },
    )


def stream_generate_content(answer: SimulatedAnswer, payload: dict[str, Any], *, alt_sse: bool) -> Reply:
    """One chunk per text delta of each candidate; the last chunk carries ``finishReason``, any function call and
    the usage (all candidates counted)."""
    chunks: list[tuple[dict[str, Any], bool]] = [
        (
            {
                "candidates": [_candidate([{"text": p}], None, index)],
                "modelVersion": answer.model,
                "responseId": "gemini-sim",
            },
            True,
        )
        for index in range(answer.choices)
        for p in answer.text_deltas()
    ]
    last_parts = _parts(answer, payload)[1:]  # the function call, if any; the text went out above
    final = {
        "candidates": [_candidate(last_parts or [{"text": ""}], "STOP", i) for i in range(answer.choices)],
        "usageMetadata": _usage(answer),
        "modelVersion": answer.model,
        "responseId": "gemini-sim",
    }
    chunks.append((final, bool(last_parts)))
    if alt_sse:
        frames = [sse(body, content=content) for body, content in chunks]
        return Reply(200, frames=frames, media_type="text/event-stream")
    frames = [
        Frame((("[" if i == 0 else ",\r\n") + json.dumps(body)).encode(), content)
        for i, (body, content) in enumerate(chunks)
    ]
    frames.append(Frame(b"]"))
    return Reply(200, frames=frames, media_type="application/json")


def mid_stream_error(*, alt_sse: bool, opened: bool) -> Frame:
    """A ``google.rpc.Status`` error as a stream chunk after a 200 (LiteLLM's ``_check_streaming_error``: "Vertex
    AI can return errors as HTTP 200 but with an 'error' field in the SSE body")."""
    error = {
        "error": {"code": 503, "message": "Unavailable (simulated, mid-stream)", "status": "UNAVAILABLE"}
    }
    if alt_sse:
        return sse(error)
    return Frame((",\r\n" if opened else "[").encode() + json.dumps(error).encode() + b"]")
