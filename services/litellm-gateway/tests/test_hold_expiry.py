"""Holds expire by themselves (a killed worker never blocks the day), live streams keep theirs, late settles count."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from llmstack_gateway.counter import CounterUnavailable
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.redis_counter import RedisCounter
from llmstack_gateway.settings import HOLD_EXPIRY_MARGIN_S, hold_expiry_s, worst_case_request_s


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_memory_holds_expire_and_free_the_cap() -> None:
    clock = Clock()
    counter = MemoryCounter(expiry_s=30, clock=clock)

    async def scenario() -> list[Any]:
        first = await counter.reserve("d", "killed-worker", 900, 1000)
        blocked = await counter.reserve("d", "next", 900, 1000)
        clock.now += 31
        admitted = await counter.reserve("d", "next", 900, 1000)
        return [
            first.admitted,
            blocked.admitted,
            admitted.admitted,
            admitted.reserved,
            await counter.open_holds("d"),
        ]

    assert run(scenario()) == [True, False, True, 900, 1]


def test_memory_touch_keeps_a_live_hold_and_a_late_settle_still_counts() -> None:
    clock = Clock()
    counter = MemoryCounter(expiry_s=30, clock=clock)

    async def scenario() -> list[Any]:
        await counter.reserve("d", "stream", 500, 1000)
        clock.now += 20
        kept = await counter.touch("d", "stream")
        clock.now += 20  # 40 s after the start, 20 s after the touch
        still_open = await counter.open_holds("d")
        clock.now += 11
        gone = await counter.open_holds("d")
        late = await counter.settle("d", "stream", 300)  # the request did run: its cost counts
        again = await counter.settle("d", "stream", 300)
        return [kept, still_open, gone, late, again, await counter.touch("d", "stream")]

    assert run(scenario()) == [True, 1, 0, 300, None, False]


def redis_counter(expiry_s: float) -> RedisCounter:
    url = "redis://127.0.0.1:6379/0"
    try:
        run(RedisCounter(url, "probe").ping())
    except CounterUnavailable:
        pytest.skip("needs the Redis on 127.0.0.1:6379")
    return RedisCounter(url, f"unit-expiry-{uuid.uuid4().hex}", expiry_s=expiry_s)


def test_redis_holds_expire_atomically_on_redis_clock() -> None:
    counter = redis_counter(expiry_s=0.3)

    async def scenario() -> list[Any]:
        first = await counter.reserve("d", "killed-worker", 900, 1000)
        blocked = await counter.reserve("d", "next", 900, 1000)
        await asyncio.sleep(0.45)
        admitted = await counter.reserve("d", "next", 900, 1000)
        late = await counter.settle("d", "killed-worker", 100)
        return [
            first.admitted,
            blocked.admitted,
            admitted.admitted,
            admitted.reserved,
            late,
            await counter.spent("d"),
        ]

    assert run(scenario()) == [True, False, True, 900, 100, (100, 900)]


def test_redis_touch_keeps_a_stream_alive() -> None:
    counter = redis_counter(expiry_s=0.4)

    async def scenario() -> list[Any]:
        await counter.reserve("d", "stream", 500, 1000)
        for _ in range(4):
            await asyncio.sleep(0.15)
            assert await counter.touch("d", "stream")
        open_after_touches = await counter.open_holds("d")
        await asyncio.sleep(0.5)
        return [open_after_touches, await counter.open_holds("d"), await counter.spent("d")]

    assert run(scenario()) == [1, 0, (0, 0)]


def test_the_expiry_is_the_worst_case_request_plus_a_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BUDGET_HOLD_EXPIRY_S", raising=False)
    config = {
        "router_settings": {"timeout": 45, "max_fallbacks": 2},
        "litellm_settings": {"request_timeout": 90},
        "model_list": [{"litellm_params": {"timeout": 30}}],
    }
    assert worst_case_request_s(config) == 90  # end to end, every fallback included
    assert hold_expiry_s(config, {}) == 90 + HOLD_EXPIRY_MARGIN_S
    per_attempt = {**config, "litellm_settings": {}}
    assert worst_case_request_s(per_attempt) == 60 * 3  # 45 s and 30 s attempts, at least 60 s, x 3 attempts
    assert hold_expiry_s(config, {"hold_expiry_s": 120}) == 120
    monkeypatch.setenv("BUDGET_HOLD_EXPIRY_S", "2.5")
    assert hold_expiry_s(config, {"hold_expiry_s": 120}) == 2.5
    monkeypatch.setenv("BUDGET_HOLD_EXPIRY_S", "0")
    with pytest.raises(ValueError, match="hold expiry must be positive, got '0'"):
        hold_expiry_s(config, {})


def test_settle_and_reserve_race_never_break_the_invariant() -> None:
    counter = redis_counter(expiry_s=60)

    async def scenario() -> tuple[int, int]:
        async def one(i: int) -> None:
            reservation = await counter.reserve("d", f"h{i}", 100, 1000)
            if reservation.admitted:
                await asyncio.sleep(0.001 * (i % 5))
                await counter.settle("d", f"h{i}", 60)

        await asyncio.gather(*(one(i) for i in range(60)))
        return await counter.spent("d")

    started = time.monotonic()
    spent, reserved = run(scenario())
    assert reserved == 0 and spent <= 1000 and spent >= 600
    assert time.monotonic() - started < 5
