"""The counter's daily totals (``GET /budget``'s split and history), in memory and in the machine's Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
from llmstack_gateway.counter import OPERATOR_NAME, UNATTRIBUTED, BudgetCounter, DayTotals
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.redis_counter import TOTALS_TTL_S, RedisCounter

REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_counter() -> Iterator[tuple[RedisCounter, redis.Redis]]:
    """A Redis counter with a prefix of its own (its keys deleted afterwards), and a client to read them."""
    if not redis_up():
        pytest.skip("needs the Redis on 127.0.0.1:6379")
    prefix = f"test-totals-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL)
    yield RedisCounter(REDIS_URL, prefix), client
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)


@pytest.fixture(params=["memory", "redis"])
def counter(request: pytest.FixtureRequest) -> Iterator[BudgetCounter]:
    if request.param == "memory":
        yield MemoryCounter()
        return
    redis_counter, _ = request.getfixturevalue("redis_counter")
    yield redis_counter


async def settle(counter: BudgetCounter, day: str, hold: str, amount: int, **split: str) -> int | None:
    assert (await counter.reserve(day, hold, amount, 10**12)).admitted
    return await counter.settle(day, hold, amount, split or None)


def test_each_settlement_is_split_once_and_the_splits_add_up(counter: BudgetCounter) -> None:
    async def scenario() -> None:
        day = "2026-12-01"
        await settle(counter, day, "a", 300, group="g", provider="anthropic", client="ci")
        await settle(counter, day, "b", 200, group="g", provider="gemini")
        await settle(counter, day, "c", 50)  # nothing attributed: still in every split
        # a settlement repeated (success then a late failure event) counts once
        assert await counter.settle(day, "a", 300, {"group": "g"}) is None
        # a release is no spend and no request
        assert (await counter.reserve(day, "d", 999, 10**12)).admitted
        await counter.release(day, "d")
        (totals,) = await counter.history([day])
        assert (totals.spent, totals.requests) == (550, 3) == ((await counter.spent(day))[0], 3)
        assert totals.by_group == {"g": 500, UNATTRIBUTED: 50}
        assert totals.by_provider == {"anthropic": 300, "gemini": 200, UNATTRIBUTED: 50}
        # a spend without a client is the master key's: the name the records give it (and what totals stored
        # in Redis before the operator was named mean)
        assert totals.by_client == {"ci": 300, OPERATOR_NAME: 250}

    asyncio.run(scenario())


def test_history_keeps_the_order_asked_and_days_without_spend_are_zero(counter: BudgetCounter) -> None:
    async def scenario() -> None:
        await settle(counter, "2026-11-30", "x", 7, group="g", provider="p")
        days = await counter.history(["2026-12-01", "2026-11-30", "2026-11-29"])
        assert [(d.day, d.spent, d.requests) for d in days] == [
            ("2026-12-01", 0, 0),
            ("2026-11-30", 7, 1),
            ("2026-11-29", 0, 0),
        ]
        # no client named that day: no client split to show
        assert days[1].by_group == {"g": 7} and days[1].by_client == {}
        # only the master key spent, named as the records name it: still no client split
        await settle(counter, "2026-11-29", "y", 3, group="g", provider="p", client=OPERATOR_NAME)
        (only_operator,) = await counter.history(["2026-11-29"])
        assert only_operator.spent == 3 and only_operator.by_client == {}

    asyncio.run(scenario())


def test_client_totals_stored_before_the_operator_was_named_read_as_the_operators(
    redis_counter: tuple[RedisCounter, redis.Redis],
) -> None:
    """Redis kept the master key's spend as ``client:unattributed`` before (issue 12): read, it joins the
    operator's, the name the records give it."""
    counter, client = redis_counter
    # the hash as the old settle script left it (redis_counter._SETTLE: spent, requests, <dimension>:<name>)
    client.hset(
        counter.totals_key("2026-12-01"),
        mapping={
            "spent": 10,
            "requests": 2,
            "group:g": 10,
            "provider:p": 10,
            f"client:{UNATTRIBUTED}": 4,
            "client:ci": 6,
        },
    )

    async def scenario() -> DayTotals:
        await settle(counter, "2026-12-01", "h", 5, group="g", provider="p", client=OPERATOR_NAME)
        (totals,) = await counter.history(["2026-12-01"])
        return totals

    totals = asyncio.run(scenario())
    assert totals.by_client == {"ci": 6, OPERATOR_NAME: 9}
    assert sum(totals.by_client.values()) == totals.spent == 15


def test_redis_keeps_a_days_totals_at_least_31_days(redis_counter: tuple[RedisCounter, redis.Redis]) -> None:
    counter, client = redis_counter
    asyncio.run(settle(counter, "2026-12-01", "h", 5, group="g"))
    ttl = client.ttl(counter.totals_key("2026-12-01"))
    assert 31 * 86400 < ttl <= TOTALS_TTL_S
    # the day's other keys go after two days: the totals are what outlives them
    assert client.ttl(counter.keys("2026-12-01")[0]) <= 48 * 3600
