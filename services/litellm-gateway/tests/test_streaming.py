"""A stream's cost: the provider's usage when it carried it, else a bound never below what was delivered;
and the iterator hook settles every stream however it ends (completed, client gone, provider error)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from litellm.types.llms.openai import OutputTextDeltaEvent, ResponsesAPIStreamEvents
from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices, Usage
from llmstack_gateway.budget import DailyBudget
from llmstack_gateway.counter import to_nano
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.settings import BudgetSettings, GroupBudget
from llmstack_gateway.streaming import StreamMeter

PRICES = (3e-6, 15e-6)


def chat_chunk(text: str | None = None, usage: tuple[int, int] | None = None) -> ModelResponseStream:
    choices = [] if text is None else [StreamingChoices(index=0, delta=Delta(content=text))]
    chunk = ModelResponseStream(choices=choices)
    if usage is not None:
        chunk.usage = Usage(prompt_tokens=usage[0], completion_tokens=usage[1], total_tokens=sum(usage))  # type: ignore[attr-defined]
    return chunk


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


# the event sequence of Anthropic's streaming Messages API (docs.anthropic.com, "Streaming Messages")
ANTHROPIC = [
    sse(
        "message_start",
        {"type": "message_start", "message": {"usage": {"input_tokens": 25, "output_tokens": 1}}},
    ),
    sse(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello "}},
    ),
    sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "world"}},
    ),
    sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
    sse(
        "message_delta",
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
    ),
    sse("message_stop", {"type": "message_stop"}),
]


def test_chat_stream_with_usage_is_exact() -> None:
    meter = StreamMeter(input_bound=500)
    for chunk in [chat_chunk("Hello "), chat_chunk("world"), chat_chunk(usage=(12, 2))]:
        meter.observe(chunk)
    assert meter.final and meter.tokens() == (12, 2)
    assert meter.cost(*PRICES) == pytest.approx(12 * 3e-6 + 2 * 15e-6)


def test_chat_stream_cut_off_is_bounded_by_delivered_bytes() -> None:
    meter = StreamMeter(input_bound=500)
    meter.observe(chat_chunk("héllo "))  # 7 bytes of UTF-8
    assert not meter.final and meter.tokens() == (500, 7)


def test_anthropic_sse_usage_even_when_events_are_split_across_chunks() -> None:
    meter = StreamMeter(input_bound=500)
    raw = b"".join(ANTHROPIC)
    for i in range(0, len(raw), 17):  # arbitrary TCP-like splits
        meter.observe(raw[i : i + 17])
    assert meter.final and meter.tokens() == (25, 3)


def test_anthropic_sse_cut_off_counts_the_reported_input_and_the_delivered_text() -> None:
    meter = StreamMeter(input_bound=500)
    for chunk in ANTHROPIC[:4]:
        meter.observe(chunk)
    assert not meter.final and meter.tokens() == (25, len("Hello world"))


def test_responses_events_deltas_and_final_usage() -> None:
    meter = StreamMeter(input_bound=500)
    meter.observe(
        OutputTextDeltaEvent(
            type=ResponsesAPIStreamEvents.OUTPUT_TEXT_DELTA,
            item_id="m",
            output_index=0,
            content_index=0,
            delta="abc",
        )
    )
    assert meter.tokens() == (500, 3)

    class Completed:  # the shape of ResponseCompletedEvent: type + response.usage (litellm/types/llms/openai.py)
        type = ResponsesAPIStreamEvents.RESPONSE_COMPLETED

        class response:  # noqa: N801
            class usage:  # noqa: N801
                input_tokens = 9
                output_tokens = 4

    meter.observe(Completed())
    assert meter.final and meter.tokens() == (9, 4)


# -- the iterator hook ---------------------------------------------------------------------------------------


def hook_and_counter() -> tuple[DailyBudget, MemoryCounter]:
    settings = BudgetSettings(
        stack="test",
        daily_usd=1.0,
        alert_thresholds=(),
        timezone="UTC",
        allow_when_counter_unavailable=False,
        groups={"g": GroupBudget(*PRICES, 100)},
        shared_state="none",
        alert_url=None,
        alert_secret=None,
        redis_url=None,
        key_prefix=f"test-{uuid.uuid4().hex}",
    )
    counter = MemoryCounter()
    return DailyBudget(settings, counter), counter


async def provider(chunks: list[Any], fail_after: int | None = None) -> AsyncIterator[Any]:
    for i, chunk in enumerate(chunks):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("provider hung up mid-stream")
        yield chunk


async def admitted_stream(hook: DailyBudget) -> dict[str, Any]:
    data = {"model": "g", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 50}
    return await hook.async_pre_call_hook(None, None, data, "acompletion")


def test_a_completed_stream_settles_to_its_usage() -> None:
    hook, counter = hook_and_counter()

    async def scenario() -> tuple[int, int]:
        data = await admitted_stream(hook)
        chunks = [chat_chunk("Hi"), chat_chunk(usage=(12, 2))]
        async for _ in hook.async_post_call_streaming_iterator_hook(None, provider(chunks), data):
            pass
        return await counter.spent(hook.settings.day()[0])

    assert run(scenario()) == (to_nano(12 * 3e-6 + 2 * 15e-6), 0)


def test_a_client_that_hangs_up_settles_what_was_generated() -> None:
    hook, counter = hook_and_counter()

    async def scenario() -> tuple[int, int, int]:
        data = await admitted_stream(hook)
        chunks = [chat_chunk("abcd"), chat_chunk("efgh"), chat_chunk("ijkl"), chat_chunk(usage=(12, 6))]
        stream = hook.async_post_call_streaming_iterator_hook(None, provider(chunks), data)
        await stream.__anext__()
        await stream.__anext__()
        await stream.aclose()  # what Starlette does to the response body when the client is gone
        hold = hook.open_hold(data["litellm_call_id"])
        input_bound = 0 if hold is None else -1
        spent, reserved = await counter.spent(hook.settings.day()[0])
        return spent, reserved, input_bound

    spent, reserved, missing = run(scenario())
    assert reserved == 0 and missing == 0
    from llmstack_gateway.worst_case import input_token_bound

    bound = input_token_bound({"messages": [{"role": "user", "content": "hi"}]})
    assert spent == to_nano(bound * 3e-6 + 8 * 15e-6)


def test_a_provider_error_mid_stream_settles_once_and_the_failure_hook_adds_nothing() -> None:
    hook, counter = hook_and_counter()

    async def scenario() -> tuple[int, int]:
        data = await admitted_stream(hook)
        stream = hook.async_post_call_streaming_iterator_hook(
            None, provider([chat_chunk("ab")] * 3, fail_after=2), data
        )
        with pytest.raises(RuntimeError, match="mid-stream"):
            async for _ in stream:
                pass
        await hook.async_post_call_failure_hook(data, RuntimeError("x"), None)
        return await counter.spent(hook.settings.day()[0])

    spent, reserved = run(scenario())
    assert reserved == 0 and spent > 0


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class CountingCounter(MemoryCounter):
    """The in-memory counter, recording touches; ``fail`` makes touch raise like an unreachable Redis."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.touches = 0
        self.fail = fail

    async def touch(self, day: str, hold: str) -> bool:
        self.touches += 1
        if self.fail:
            from llmstack_gateway.counter import CounterUnavailable

            raise CounterUnavailable("Redis unreachable: ConnectionError")
        return await super().touch(day, hold)


async def slow_provider(chunks: list[Any], gap_s: float) -> AsyncIterator[Any]:
    for chunk in chunks:
        await asyncio.sleep(gap_s)
        yield chunk


@pytest.mark.parametrize("fail", [False, True], ids=["refreshed", "redis-down"])
def test_a_long_stream_keeps_its_hold_alive_and_a_failed_refresh_never_breaks_it(fail: bool) -> None:
    hook, _ = hook_and_counter()
    counter = CountingCounter(fail=fail)
    hook._counter = counter
    hook._settings = dataclasses.replace(hook.settings, hold_expiry_s=4.0)  # refresh every second

    async def scenario() -> int:
        data = await admitted_stream(hook)
        chunks = [chat_chunk("a"), chat_chunk("b"), chat_chunk(usage=(12, 2))]
        received = [
            c
            async for c in hook.async_post_call_streaming_iterator_hook(
                None, slow_provider(chunks, 0.55), data
            )
        ]
        return len(received)

    assert run(scenario()) == 3
    assert counter.touches >= 1


def test_all_zero_usage_on_text_completion_chunks_is_not_usage() -> None:
    from litellm.types.utils import TextChoices, TextCompletionResponse

    meter = StreamMeter(input_bound=500)
    # what LiteLLM hands the hook for /v1/completions: every chunk carries Usage(0, 0) (measured)
    chunk = TextCompletionResponse(choices=[TextChoices(index=0, text="hello")])
    chunk.usage = Usage(prompt_tokens=0, completion_tokens=0, total_tokens=0)  # type: ignore[attr-defined]
    meter.observe(chunk)
    assert not meter.final and meter.tokens() == (500, 5)


def test_serialized_openai_chunks_are_read_too() -> None:
    meter = StreamMeter(input_bound=500)
    meter.observe(b'data: {"choices": [{"index": 0, "text": "abc"}]}\n\n')
    meter.observe(
        b'data: {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}\n\ndata: [DONE]\n\n'
    )
    assert meter.final and meter.tokens() == (7, 3)


def test_an_assembled_zero_usage_means_unknown() -> None:
    from llmstack_gateway.streaming import assembled_usage

    class Logging:  # the attribute LiteLLM's Logging object exposes (litellm_core_utils/litellm_logging.py)
        model_call_details: ClassVar[dict[str, Any]] = {
            "async_complete_streaming_response": {"usage": {"prompt_tokens": 0, "completion_tokens": 0}}
        }

    assert assembled_usage(Logging()) is None
    Logging.model_call_details = {
        "async_complete_streaming_response": {"usage": {"input_tokens": 9, "output_tokens": 2}}
    }
    assert assembled_usage(Logging()) == (9, 2)


def test_the_answer_text_of_every_stream_shape_reaches_on_text() -> None:
    """``on_text`` (the records' log_content) gets the answer's text only: no tool call, no reasoning."""

    def texts(chunks: list[Any]) -> list[tuple[int, str]]:
        seen: list[tuple[int, str]] = []
        meter = StreamMeter(input_bound=500, on_text=lambda index, text: seen.append((index, text)))
        for chunk in chunks:
            meter.observe(chunk)
        return seen

    assert texts([chat_chunk("Hello "), chat_chunk("world"), chat_chunk(usage=(12, 2))]) == [
        (0, "Hello "),
        (0, "world"),
    ]
    raw = b"".join(ANTHROPIC)
    thinking = sse(
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
    )
    split = [raw[i : i + 17] for i in range(0, len(raw), 17)]
    assert texts([thinking, *split]) == [(0, "Hello "), (0, "world")]
    assert texts([b'data: {"choices": [{"index": 1, "text": "abc"}]}\n\n']) == [(1, "abc")]
    delta = OutputTextDeltaEvent(
        type=ResponsesAPIStreamEvents.OUTPUT_TEXT_DELTA,
        item_id="m",
        output_index=0,
        content_index=0,
        delta="abc",
    )

    class ArgumentsDelta:  # a tool call's arguments (response.function_call_arguments.delta): not answer text
        type = ResponsesAPIStreamEvents.FUNCTION_CALL_ARGUMENTS_DELTA
        delta = '{"city": "Berlin"}'

    assert texts([delta, ArgumentsDelta()]) == [(0, "abc")]
