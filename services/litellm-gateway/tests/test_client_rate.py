"""A client's request rate: the sliding window in memory and in Redis, and the hook's 429 with Retry-After."""

from __future__ import annotations

import asyncio
import re
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from fastapi import HTTPException
from llmstack_gateway.client_rate import MemoryRateWindow, RateLimited, RateWindow, RedisRateWindow
from llmstack_gateway.clients import CLIENT_FIELD, ClientAccess, parse_registry

MASTER = "sk-master-" + "m" * 30
CONFIG: dict[str, Any] = {
    "llmstack_clients": {
        "master_key_completions": False,
        "clients": {
            "loop": {
                "key": "os.environ/LLMSTACK_CLIENT_LOOP_KEY",
                "routes": ["simple"],
                "requests_per_minute": 2,
            },
            "bot": {"key": "os.environ/LLMSTACK_CLIENT_BOT_KEY", "routes": ["simple"]},
        },
    }
}
ENV = {
    "LITELLM_MASTER_KEY": MASTER,
    "LLMSTACK_CLIENT_LOOP_KEY": "sk-loop-" + "l" * 30,
    "LLMSTACK_CLIENT_BOT_KEY": "sk-bot-" + "b" * 30,
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_memory_window_slides() -> None:
    clock = Clock()
    window = MemoryRateWindow(clock)

    async def run() -> None:
        assert (await window.admit("loop", 2)).admitted
        clock.now += 20
        assert (await window.admit("loop", 2)).admitted
        refused = await window.admit("loop", 2)
        # the first request leaves the window 40 s from now: not at a minute boundary
        assert (refused.admitted, refused.count, refused.retry_after_s) == (False, 2, 40)
        assert (await window.admit("other", 2)).admitted  # a window per client
        clock.now += 40
        assert (await window.admit("loop", 2)).admitted
        assert not (await window.admit("loop", 2)).admitted  # the second one is still inside

    asyncio.run(run())


def test_the_redis_window_is_shared_and_refusals_take_no_slot() -> None:
    try:
        redis.Redis(socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("needs the Redis on 127.0.0.1:6379")
    prefix = f"h14-test-{uuid.uuid4().hex[:8]}"
    # two windows on one Redis: two workers (or replicas) of one stack
    first, second = (
        RedisRateWindow("redis://127.0.0.1:6379/0", prefix),
        RedisRateWindow("redis://127.0.0.1:6379/0", prefix),
    )

    async def run() -> None:
        decisions = await asyncio.gather(*(w.admit("loop", 3) for w in (first, second) * 4))
        assert sum(d.admitted for d in decisions) == 3
        refused = [d for d in decisions if not d.admitted]
        assert all(d.count == 3 and 55 <= d.retry_after_s <= 60 for d in refused)
        assert (await second.admit("bot", 3)).admitted

    try:
        asyncio.run(run())
        client = redis.Redis()
        assert client.zcard(first.key("loop")) == 3  # five refusals added nothing
        assert 0 < client.pttl(first.key("loop")) <= 60_000  # an idle client's window expires
    finally:
        client = redis.Redis()
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


def test_a_redis_that_cannot_be_reached_leaves_the_decision_to_the_budget() -> None:
    window = RedisRateWindow("redis://127.0.0.1:1/0", "h14-down")
    decision = asyncio.run(window.admit("loop", 1))
    assert decision.admitted and decision.count == 0


@pytest.mark.parametrize("rate", [0, -3, 2.5, "10", True])
def test_a_rendered_rate_that_is_not_a_positive_whole_number_is_refused_at_start(rate: object) -> None:
    config = {"llmstack_clients": {"clients": {"loop": {**CONFIG["llmstack_clients"]["clients"]["loop"]}}}}
    config["llmstack_clients"]["clients"]["loop"]["requests_per_minute"] = rate
    with pytest.raises(
        ValueError,
        match=re.escape(f"client 'loop': requests_per_minute must be a positive whole number, got {rate!r}"),
    ):
        parse_registry(config, ENV)


def caller(name: str) -> SimpleNamespace:
    return SimpleNamespace(metadata={CLIENT_FIELD: name})


def access(monkeypatch: pytest.MonkeyPatch, window: RateWindow) -> ClientAccess:
    registry = parse_registry(CONFIG, ENV)
    monkeypatch.setattr("llmstack_gateway.clients.registry", lambda: registry)
    return ClientAccess(registry, window)


def test_the_hook_refuses_over_the_limit_with_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    hook = access(monkeypatch, MemoryRateWindow(clock))

    async def run() -> None:
        for _ in range(2):
            await hook.async_pre_call_hook(caller("loop"), None, {"model": "simple"}, "acompletion")
        clock.now += 15
        with pytest.raises(RateLimited) as refused:
            await hook.async_pre_call_hook(caller("loop"), None, {"model": "simple"}, "acompletion")
        assert (refused.value.status_code, refused.value.code) == (429, "429")
        assert refused.value.headers == {"Retry-After": "45"}
        detail = refused.value.detail
        assert isinstance(detail, dict)
        assert re.fullmatch(
            r"client 'loop' is limited to 2 requests per minute and has made 2 in the last 60 s: "
            r"retry in 45 s \(Retry-After\)",
            detail["error"],
        )
        assert (detail["reason"], detail["client"], detail["requests_per_minute"]) == (
            "client_rate_limited",
            "loop",
            2,
        )
        # a client without a limit is never counted
        for _ in range(5):
            await hook.async_pre_call_hook(caller("bot"), None, {"model": "simple"}, "acompletion")

    asyncio.run(run())


def test_a_route_refusal_comes_first_and_takes_no_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    hook = access(monkeypatch, MemoryRateWindow(Clock()))

    async def run() -> None:
        for _ in range(3):
            with pytest.raises(HTTPException) as refused:
                await hook.async_pre_call_hook(caller("loop"), None, {"model": "balanced"}, "acompletion")
            assert refused.value.status_code == 403
        for _ in range(2):
            await hook.async_pre_call_hook(caller("loop"), None, {"model": "simple"}, "acompletion")

    asyncio.run(run())
