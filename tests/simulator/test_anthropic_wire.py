"""Anthropic's Messages API, parsed by the real Anthropic SDK: plain, streamed, with tool use."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import pytest

from infra.simulator import ProviderSimulator
from tests.simulator.conftest import PROMPT, PROMPT_TOKENS, TOKENS_PER_CHOICE

TEXT = "[anthropic/claude-sonnet-4-6] simulated answer"
MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]
TOOLS: list[Any] = [
    {
        "name": "get_weather",
        "description": "the weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@pytest.fixture
def client(simulator: ProviderSimulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=simulator.api_bases()["anthropic"], api_key="sim-key", max_retries=0)


def test_plain_message(client: anthropic.Anthropic, simulator: ProviderSimulator) -> None:
    message = client.messages.create(model="claude-sonnet-4-6", max_tokens=6, messages=MESSAGES)
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == TEXT
    assert (message.usage.input_tokens, message.usage.output_tokens) == (PROMPT_TOKENS, 6)
    assert message.stop_reason == "end_turn"
    assert simulator.requests()[-1].endpoint == "messages"


def test_system_prompt_counts_as_input(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=6, system="y" * 20, messages=MESSAGES
    )
    assert message.usage.input_tokens == PROMPT_TOKENS + 5  # 20 more characters: 5 more tokens


def test_raw_stream_event_order_and_usage(client: anthropic.Anthropic, simulator: ProviderSimulator) -> None:
    events = list(
        client.messages.create(model="claude-sonnet-4-6", max_tokens=1024, messages=MESSAGES, stream=True)
    )
    kinds = [e.type for e in events]
    # the SDK swallows the ping (anthropic/_streaming.py); everything else arrives in the documented order
    assert kinds == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * TOKENS_PER_CHOICE,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.usage.input_tokens == PROMPT_TOKENS
    assert delta.type == "message_delta" and delta.usage.output_tokens == TOKENS_PER_CHOICE
    assert delta.delta.stop_reason == "end_turn"
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == TEXT
    assert simulator.requests()[-1].deltas_sent == TOKENS_PER_CHOICE


def test_the_wire_carries_a_ping(simulator: ProviderSimulator) -> None:
    body = {"model": "claude-sonnet-4-6", "max_tokens": 4, "messages": MESSAGES, "stream": True}
    text = httpx.post(f"{simulator.api_bases()['anthropic']}/v1/messages", json=body).text
    assert 'event: ping\ndata: {"type":"ping"}' in text
    assert text.rstrip().endswith('event: message_stop\ndata: {"type":"message_stop"}')


def test_stream_helper_with_tools_accumulates_a_tool_use_block(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES, tools=TOOLS
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds  # the helper's event for an input_json_delta
    assert [block.type for block in final.content] == ["text", "tool_use"]
    tool_use = final.content[1]
    assert (
        tool_use.type == "tool_use"
        and tool_use.name == "get_weather"
        and tool_use.input == {"city": "simulated"}
    )
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (PROMPT_TOKENS, TOKENS_PER_CHOICE)


def test_tool_choice_none_uses_no_tool(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=64, messages=MESSAGES, tools=TOOLS, tool_choice={"type": "none"}
    )
    assert [block.type for block in message.content] == ["text"] and message.stop_reason == "end_turn"


def test_a_forced_tool_answers_with_the_named_tool_use_only(client: anthropic.Anthropic) -> None:
    """Forced tool use prefills the assistant turn, so no text comes before the tool_use block (Anthropic docs,
    tool use, "Forcing tool use"); LiteLLM relies on this for ``response_format`` on Claude."""
    tools = [*TOOLS, {"name": "get_time", "input_schema": {"type": "object", "properties": {}}}]
    with client.messages.stream(
        model="claude-sonnet-4-6",
        max_tokens=64,
        messages=MESSAGES,
        tools=tools,
        tool_choice={"type": "tool", "name": "get_time"},
    ) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["tool_use"]
    assert final.content[0].type == "tool_use" and final.content[0].name == "get_time"


def test_a_system_prompt_as_blocks_counts_too(client: anthropic.Anthropic) -> None:
    system: Any = [{"type": "text", "text": "y" * 20}]
    message = client.messages.create(
        model="claude-sonnet-4-6", max_tokens=6, system=system, messages=MESSAGES
    )
    assert message.usage.input_tokens == PROMPT_TOKENS + 5
