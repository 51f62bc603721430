"""Each provider's JSON mode: the answer text is one JSON object, streamed or not; usage does not change.

What turns it on, per wire: OpenAI chat ``response_format`` and Responses ``text.format`` (``json_object`` or
``json_schema``), Anthropic ``output_format`` ``json_schema``, Gemini ``generationConfig`` mime type
``application/json``. Without them the answer stays prose, so a gateway test can tell a dropped directive.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import httpx
import openai
import pytest

from infra.simulator import ProviderSimulator
from tests.simulator.conftest import PROMPT, PROMPT_TOKENS, TOKENS_PER_CHOICE

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"answer": {"type": "string"}}}
OPENAI_FORMATS: list[Any] = [
    {"type": "json_object"},
    {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA}},
]


def is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


@pytest.fixture
def oai(simulator: ProviderSimulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=simulator.api_bases()["openai"], api_key="sim-key", max_retries=0)


@pytest.mark.parametrize("response_format", OPENAI_FORMATS, ids=["json_object", "json_schema"])
def test_openai_chat_json_modes_plain_and_streamed(oai: openai.OpenAI, response_format: Any) -> None:
    messages: Any = [{"role": "user", "content": PROMPT}]
    plain = oai.chat.completions.create(model="gpt-4o", messages=messages, response_format=response_format)
    assert is_json_object(plain.choices[0].message.content or "")
    assert plain.usage is not None and (plain.usage.prompt_tokens, plain.usage.completion_tokens) == (
        PROMPT_TOKENS,
        TOKENS_PER_CHOICE,
    )
    chunks = oai.chat.completions.create(
        model="gpt-4o", messages=messages, response_format=response_format, stream=True
    )
    assert is_json_object("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))


def test_openai_prose_without_a_json_mode(oai: openai.OpenAI) -> None:
    plain = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    assert not is_json_object(plain.choices[0].message.content or "")


def test_openai_responses_text_format(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="gpt-4o", input=PROMPT, text={"format": {"type": "json_object"}})
    assert is_json_object(response.output_text)


def test_anthropic_output_format_json_schema(simulator: ProviderSimulator) -> None:
    client = anthropic.Anthropic(base_url=simulator.api_bases()["anthropic"], api_key="k", max_retries=0)
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": PROMPT}],
        "extra_body": {"output_format": {"type": "json_schema", "schema": SCHEMA}},
    }
    message = client.messages.create(**body)
    assert message.content[0].type == "text" and is_json_object(message.content[0].text)
    with client.messages.stream(**body) as events:
        assert is_json_object("".join(events.text_stream))
    prose = client.messages.create(**{k: v for k, v in body.items() if k != "extra_body"})
    assert prose.content[0].type == "text" and not is_json_object(prose.content[0].text)


@pytest.mark.parametrize("spelling", ["responseMimeType", "response_mime_type"])
def test_gemini_response_mime_type(simulator: ProviderSimulator, spelling: str) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {spelling: "application/json"},
    }
    url = f"{simulator.api_bases()['gemini']}/models/gemini-2.5-pro:generateContent"
    answer = httpx.post(url, json=body).json()
    assert is_json_object(answer["candidates"][0]["content"]["parts"][0]["text"])
