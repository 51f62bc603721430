"""The OpenAI wire formats, parsed by the real OpenAI SDK: chat completions, legacy completions, Responses."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from infra.simulator import ProviderSimulator
from tests.simulator.conftest import PROMPT, PROMPT_TOKENS, TOKENS_PER_CHOICE

TEXT = "[openai/gpt-4o] simulated answer"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city", "days"],
            },
        },
    }
]


@pytest.fixture
def client(simulator: ProviderSimulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=simulator.api_bases()["openai"], api_key="sim-key", max_retries=0)


def test_chat_completion_with_n_counts_every_choice(
    client: openai.OpenAI, simulator: ProviderSimulator
) -> None:
    completion = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, n=3, max_tokens=5)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    assert {c.message.content for c in completion.choices} == {TEXT}
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (PROMPT_TOKENS, 3 * 5)
    assert completion.usage.total_tokens == PROMPT_TOKENS + 15
    (logged,) = simulator.requests()
    assert (logged.endpoint, logged.stream, logged.choices, logged.output_tokens) == ("chat", False, 3, 15)


def test_stream_without_include_usage_has_no_usage_chunk(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(deltas) == TOKENS_PER_CHOICE  # one delta per output token
    assert "".join(deltas) == TEXT
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_stream_with_include_usage_ends_with_an_empty_choices_usage_chunk(
    client: openai.OpenAI, simulator: ProviderSimulator
) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
        n=2,
        max_tokens=4,
    )
    chunks = list(stream)
    *body, last = chunks
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (
        PROMPT_TOKENS,
        2 * 4,
        PROMPT_TOKENS + 8,
    )
    assert all(chunk.usage is None for chunk in body)  # "usage": null on every other chunk
    for index in (0, 1):
        pieces = [c.choices[0].delta.content or "" for c in body if c.choices[0].index == index]
        assert "".join(pieces) == TEXT
    logged = simulator.requests()[-1]
    assert (logged.stream, logged.finished, logged.deltas_sent) == (True, True, 8)


def test_the_raw_stream_ends_with_done(simulator: ProviderSimulator) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}
    response = httpx.post(f"{simulator.api_bases()['openai']}/chat/completions", json=body)
    assert response.headers["content-type"] == "text/event-stream"
    events = [line for line in response.text.split("\n\n") if line]
    assert events[-1] == "data: [DONE]"
    assert all(e.startswith("data: {") for e in events[:-1])
    assert json.loads(events[0].removeprefix("data: "))["object"] == "chat.completion.chunk"


def test_streamed_tool_call_reassembles(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=MESSAGES, tools=TOOLS, stream=True))
    calls = [call for c in chunks for call in (c.choices[0].delta.tool_calls or [])]
    assert calls[0].id and calls[0].function and calls[0].function.name == "get_weather"
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert json.loads(arguments) == {"city": "simulated", "days": 1}
    assert len(calls) > 2  # the arguments arrive in pieces
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_tool_choice_none_answers_text(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o", messages=MESSAGES, tools=TOOLS, tool_choice="none"
    )
    assert completion.choices[0].message.content == TEXT and not completion.choices[0].message.tool_calls


def test_legacy_completions_plain_and_streamed(client: openai.OpenAI) -> None:
    plain = client.completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=7)
    assert plain.choices[0].text == TEXT and plain.object == "text_completion"
    assert plain.usage is not None and (plain.usage.prompt_tokens, plain.usage.completion_tokens) == (
        PROMPT_TOKENS,
        7,
    )
    chunks = list(
        client.completions.create(
            model="gpt-4o", prompt=PROMPT, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == TEXT
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == TOKENS_PER_CHOICE


def test_responses_plain(client: openai.OpenAI, simulator: ProviderSimulator) -> None:
    response = client.responses.create(model="gpt-4o", input=PROMPT, max_output_tokens=9)
    assert response.output_text == TEXT and response.status == "completed"
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (PROMPT_TOKENS, 9)
    assert simulator.requests()[-1].endpoint == "responses"


def test_responses_streamed_events_in_order(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4o", input=[{"role": "user", "content": PROMPT}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds.count("response.output_text.delta") == TOKENS_PER_CHOICE
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert final.output_text == TEXT
    assert final.usage is not None and (final.usage.input_tokens, final.usage.output_tokens) == (
        PROMPT_TOKENS,
        TOKENS_PER_CHOICE,
    )


def test_responses_streamed_function_call(client: openai.OpenAI) -> None:
    tools: list[Any] = [
        {"type": "function", "name": "get_weather", "parameters": TOOLS[0]["function"]["parameters"]}
    ]
    with client.responses.stream(model="gpt-4o", input=PROMPT, tools=tools) as stream:
        kinds = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    (call,) = [item for item in final.output if item.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "simulated", "days": 1}


def test_a_tool_forced_by_name_is_the_one_called(client: openai.OpenAI) -> None:
    second: Any = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    completion = client.chat.completions.create(
        model="gpt-4o",
        messages=MESSAGES,
        tools=[*TOOLS, second],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "get_time"
    assert completion.choices[0].finish_reason == "tool_calls"


def test_best_of_bills_every_generated_completion(
    client: openai.OpenAI, simulator: ProviderSimulator
) -> None:
    completion = client.completions.create(model="gpt-4o", prompt=PROMPT, max_tokens=3, n=2, best_of=5)
    assert len(completion.choices) == 2  # the best n come back ...
    assert (
        completion.usage is not None and completion.usage.completion_tokens == 5 * 3
    )  # ... all best_of are billed
    assert simulator.requests()[-1].output_tokens == 15
