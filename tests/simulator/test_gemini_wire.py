"""Gemini's generateContent and streamGenerateContent, over httpx and through LiteLLM's own Gemini client."""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from infra.simulator import ProviderSimulator
from tests.simulator.conftest import PROMPT, PROMPT_TOKENS, TOKENS_PER_CHOICE

TEXT = "[gemini/gemini-2.5-pro] simulated answer"
BODY: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}


def url(simulator: ProviderSimulator, action: str) -> str:
    return f"{simulator.api_bases()['gemini']}/models/gemini-2.5-pro:{action}"


def test_generate_content(simulator: ProviderSimulator) -> None:
    body = {**BODY, "generationConfig": {"maxOutputTokens": 3}}
    answer = httpx.post(url(simulator, "generateContent"), json=body).json()
    assert answer["candidates"][0]["content"]["parts"] == [{"text": TEXT}]
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"] == {
        "promptTokenCount": PROMPT_TOKENS,
        "candidatesTokenCount": 3,
        "totalTokenCount": PROMPT_TOKENS + 3,
    }


def test_stream_with_alt_sse(simulator: ProviderSimulator) -> None:
    with httpx.stream("POST", url(simulator, "streamGenerateContent") + "?alt=sse", json=BODY) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    text = "".join(p.get("text", "") for e in events for p in e["candidates"][0]["content"]["parts"])
    assert text == TEXT
    assert [e for e in events if "usageMetadata" in e] == [events[-1]]  # the usage rides on the last chunk
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == TOKENS_PER_CHOICE
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert simulator.requests()[-1].endpoint == "streamGenerateContent"


def test_stream_without_alt_is_one_json_array(simulator: ProviderSimulator) -> None:
    answer = httpx.post(url(simulator, "streamGenerateContent"), json=BODY)
    chunks = json.loads(answer.text)
    assert isinstance(chunks, list) and len(chunks) == TOKENS_PER_CHOICE + 1
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == PROMPT_TOKENS + TOKENS_PER_CHOICE


def test_function_call_part(simulator: ProviderSimulator) -> None:
    tools = [
        {
            "functionDeclarations": [
                {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
            ]
        }
    ]
    answer = httpx.post(url(simulator, "generateContent"), json={**BODY, "tools": tools}).json()
    assert answer["candidates"][0]["content"]["parts"][1] == {
        "functionCall": {"name": "lookup", "args": {"q": "simulated"}}
    }
    none = {"functionCallingConfig": {"mode": "NONE"}}
    answer = httpx.post(
        url(simulator, "generateContent"), json={**BODY, "tools": tools, "toolConfig": none}
    ).json()
    assert answer["candidates"][0]["content"]["parts"] == [{"text": TEXT}]


@pytest.mark.litellm
def test_litellm_streams_gemini_with_usage(simulator: ProviderSimulator) -> None:
    """LiteLLM calls ``:streamGenerateContent?alt=sse`` and reads the usage from the stream."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    stream = litellm.completion(
        model="gemini/gemini-2.5-pro",
        api_base=simulator.api_bases()["gemini"],
        api_key="sim-key",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == TEXT
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (PROMPT_TOKENS, TOKENS_PER_CHOICE)
    (logged,) = simulator.requests()
    assert (logged.endpoint, logged.stream, logged.finished) == ("streamGenerateContent", True, True)


def test_candidate_count_answers_and_bills_every_candidate(simulator: ProviderSimulator) -> None:
    body = {**BODY, "generationConfig": {"candidateCount": 2, "maxOutputTokens": 5}}
    answer = httpx.post(url(simulator, "generateContent"), json=body).json()
    assert [c["index"] for c in answer["candidates"]] == [0, 1]
    assert answer["usageMetadata"]["candidatesTokenCount"] == 2 * 5
    with httpx.stream("POST", url(simulator, "streamGenerateContent") + "?alt=sse", json=body) as response:
        events = [json.loads(line.removeprefix("data: ")) for line in response.iter_lines() if line]
    for index in (0, 1):
        texts = [
            c["content"]["parts"][0].get("text", "")
            for e in events
            for c in e["candidates"]
            if c["index"] == index
        ]
        assert "".join(texts) == TEXT
    assert events[-1]["usageMetadata"]["totalTokenCount"] == PROMPT_TOKENS + 10
    assert simulator.requests()[-1].deltas_sent == 10


def test_the_system_instruction_is_billed_input(simulator: ProviderSimulator) -> None:
    body = {**BODY, "system_instruction": {"parts": [{"text": "y" * 20}]}}
    answer = httpx.post(url(simulator, "generateContent"), json=body).json()
    assert answer["usageMetadata"]["promptTokenCount"] == PROMPT_TOKENS + 5
