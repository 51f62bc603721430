"""The budget hook and its counters in isolation: reservations, clamping, refusal, fail-closed, idempotent settle."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from fastapi import HTTPException
from llmstack_gateway.budget import DailyBudget
from llmstack_gateway.clients import OPERATOR, parse_registry
from llmstack_gateway.counter import CounterUnavailable, to_nano
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.redis_counter import RedisCounter
from llmstack_gateway.settings import BudgetSettings, GroupBudget, parse_settings
from llmstack_gateway.worst_case import input_token_bound


def settings(**overrides: Any) -> BudgetSettings:
    base: dict[str, Any] = {
        "stack": "test",
        "daily_usd": 0.01,
        "alert_thresholds": (0.5, 1.0),
        "timezone": "UTC",
        "allow_when_counter_unavailable": False,
        "groups": {"g": GroupBudget(3e-6, 15e-6, 100)},
        "shared_state": "none",
        "alert_url": None,
        "alert_secret": None,
        "redis_url": None,
        "key_prefix": f"test-{uuid.uuid4().hex}",
    }
    return BudgetSettings(**{**base, **overrides})


def request(**extra: Any) -> dict[str, Any]:
    return {"model": "g", "messages": [{"role": "user", "content": "hello"}], **extra}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_missing_max_tokens_is_set_to_the_catalogs_cap_and_reserved() -> None:
    hook = DailyBudget(settings(), MemoryCounter())
    data = run(hook.async_pre_call_hook(None, None, request(), "acompletion"))
    assert data["max_tokens"] == 100
    hold = hook.open_hold(data["litellm_call_id"])
    assert hold is not None and hold.amount == to_nano(input_token_bound(data) * 3e-6 + 100 * 15e-6)


def test_a_larger_max_tokens_is_clamped() -> None:
    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        hook = DailyBudget(settings(daily_usd=1.0), MemoryCounter())
        large = await hook.async_pre_call_hook(None, None, request(max_tokens=10_000), "acompletion")
        small = await hook.async_pre_call_hook(None, None, request(max_completion_tokens=7), "acompletion")
        return large, small

    large, small = run(scenario())
    assert large["max_tokens"] == 100
    assert small["max_tokens"] == 7 and "max_completion_tokens" not in small


def test_a_request_that_does_not_fit_is_refused_with_the_reset_time() -> None:
    counter = MemoryCounter()
    hook = DailyBudget(settings(daily_usd=0.002), counter)

    async def scenario() -> None:
        day = hook.settings.day()[0]
        await counter.reserve(day, "other-in-flight", to_nano(0.0003), to_nano(1))
        await counter.reserve(day, "done", to_nano(0.0002), to_nano(1))
        await counter.settle(day, "done", to_nano(0.0002))
        await hook.async_pre_call_hook(None, None, request(), "acompletion")  # needs ~$0.0016

    with pytest.raises(HTTPException) as caught:
        run(scenario())
    assert caught.value.status_code == 429
    message = caught.value.detail["error"]
    assert "daily budget of $0.002 cannot cover this request" in message
    assert "$0.000200 spent, $0.000300 held by requests in flight" in message
    assert "it resets at " in message and "+00:00 (UTC)" in message
    assert caught.value.detail["held_usd"] == 0.0003 and caught.value.detail["spent_usd"] == 0.0002


def test_settle_replaces_the_hold_by_the_actual_cost_once() -> None:
    counter = MemoryCounter()
    hook = DailyBudget(settings(), counter)

    class Response:
        _hidden_params: ClassVar[dict[str, float]] = {"response_cost": 0.0002}

    async def scenario() -> tuple[int, int]:
        data = await hook.async_pre_call_hook(None, None, request(max_tokens=10), "acompletion")
        await hook.async_post_call_success_hook(data, None, Response())
        await hook.async_post_call_success_hook(data, None, Response())  # a second event must not count twice
        await hook.async_post_call_failure_hook(data, RuntimeError("late"), None)
        return await counter.spent(hook.settings.day()[0])

    assert run(scenario()) == (to_nano(0.0002), 0)


def test_failure_releases_the_hold() -> None:
    counter = MemoryCounter()
    hook = DailyBudget(settings(), counter)

    async def scenario() -> tuple[int, int]:
        data = await hook.async_pre_call_hook(None, None, request(), "acompletion")
        await hook.async_post_call_failure_hook(data, RuntimeError("provider down"), None)
        return await counter.spent(hook.settings.day()[0])

    assert run(scenario()) == (0, 0)


class Unreachable(MemoryCounter):
    async def reserve(self, *args: Any) -> Any:
        raise CounterUnavailable("Redis unreachable: ConnectionError")


def test_an_unreachable_counter_fails_closed() -> None:
    hook = DailyBudget(settings(), Unreachable())
    with pytest.raises(HTTPException) as caught:
        run(hook.async_pre_call_hook(None, None, request(), "acompletion"))
    assert caught.value.status_code == 503 and "fail closed" in caught.value.detail["error"]


def test_an_unreachable_counter_admits_when_the_stack_opts_out() -> None:
    hook = DailyBudget(settings(allow_when_counter_unavailable=True), Unreachable())
    data = run(hook.async_pre_call_hook(None, None, request(), "acompletion"))
    assert hook.open_hold(str(data.get("litellm_call_id"))) is None


def test_unpriced_call_types_are_refused_naming_the_api_called() -> None:
    hook = DailyBudget(settings(), MemoryCounter())
    data = {
        "model": "g",
        "input": "x",
        "proxy_server_request": {"url": "http://127.0.0.1:4000/v1/embeddings", "method": "POST"},
    }
    with pytest.raises(HTTPException) as caught:
        run(hook.async_pre_call_hook(None, None, data, "aembedding"))
    assert caught.value.status_code == 404
    message = caught.value.detail["error"]
    assert message.startswith(
        "POST /v1/embeddings is not served by this gateway; served: POST /v1/chat/completions"
    )
    assert "aembedding" not in message


@pytest.mark.parametrize(
    ("call_type", "body", "field"),
    [
        ("acompletion", {"messages": [{"role": "user", "content": "hi"}], "n": 4}, "max_tokens"),
        ("atext_completion", {"prompt": "hi", "best_of": 4, "n": 2}, "max_tokens"),
        (
            "anthropic_messages",
            {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 10_000},
            "max_tokens",
        ),
        ("aresponses", {"input": "hi", "max_output_tokens": 10_000}, "max_output_tokens"),
    ],
)
def test_every_served_endpoint_clamps_its_output_limit_and_reserves_every_choice(
    call_type: str, body: dict[str, Any], field: str
) -> None:
    hook = DailyBudget(settings(daily_usd=1.0), MemoryCounter())
    data = run(hook.async_pre_call_hook(None, None, {"model": "g", **body}, call_type))
    assert data[field] == 100
    choices = max(int(body.get("n", 1)), int(body.get("best_of", 1)))
    hold = hook.open_hold(data["litellm_call_id"])
    assert hold is not None
    assert hold.amount == to_nano(input_token_bound(data) * 3e-6 + 100 * choices * 15e-6)


def test_n_that_does_not_fit_is_refused_and_spent_plus_reserved_stays_under_the_cap() -> None:
    counter = MemoryCounter()
    hook = DailyBudget(settings(daily_usd=0.005), counter)  # one choice of 100 tokens: ~$0.0017

    async def scenario() -> tuple[int, int]:
        await hook.async_pre_call_hook(None, None, request(n=2), "acompletion")
        with pytest.raises(HTTPException):
            await hook.async_pre_call_hook(None, None, request(n=2), "acompletion")
        return await counter.spent(hook.settings.day()[0])

    spent, reserved = run(scenario())
    assert spent + reserved <= to_nano(0.005) and reserved > to_nano(0.003)


def test_a_stream_asks_the_provider_for_usage_and_lets_litellm_strip_it() -> None:
    hook = DailyBudget(settings(daily_usd=1.0), MemoryCounter())
    plain = run(hook.async_pre_call_hook(None, None, request(stream=True), "acompletion"))
    assert plain["stream_options"] == {"include_usage": True} and plain["_litellm_strip_stream_usage"] is True
    asked = run(
        hook.async_pre_call_hook(
            None, None, request(stream=True, stream_options={"include_usage": True}), "acompletion"
        )
    )
    assert "_litellm_strip_stream_usage" not in asked  # the client asked: it gets the usage chunk


def test_the_input_bound_is_never_below_a_tokenizers_count() -> None:
    import litellm

    for text in [
        "hello",
        "the quick brown fox " * 50,
        "日本語のテキスト" * 20,
        "x = [i**2 for i in range(10)]" * 10,
    ]:
        messages = [{"role": "user", "content": text}]
        assert input_token_bound({"messages": messages}) >= litellm.token_counter(
            model="gpt-4o", messages=messages
        )


def test_images_count_a_fixed_allowance() -> None:
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:..."}}]}
    assert input_token_bound({"messages": [image]}) >= 2000


def test_the_budget_day_follows_the_time_zone(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = tmp_path / "now"
    clock.write_text("2026-12-01T23:30:00+00:00")
    monkeypatch.setenv("LLMSTACK_BUDGET_CLOCK_FILE", str(clock))
    day, resets = settings(timezone="Europe/Berlin").day()
    assert day == "2026-12-02"
    assert resets == dt.datetime(2026, 12, 3, tzinfo=dt.timezone(dt.timedelta(hours=1)))


def test_the_rendered_section_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "redis.internal")
    monkeypatch.setenv("REDIS_PASSWORD", "pw")
    parsed = parse_settings(
        {
            "llmstack_budget": {
                "stack": "prod",
                "daily_usd": 10.0,
                "alert_thresholds": [0.5, 1.0],
                "timezone": "UTC",
                "allow_when_counter_unavailable": False,
                "shared_state": "redis",
                "groups": {
                    "g": {"input_per_token": 3e-6, "output_per_token": 1.5e-5, "max_output_tokens": 8192}
                },
            }
        }
    )
    assert parsed.redis_url == "redis://:pw@redis.internal:6379/0"
    assert parsed.groups["g"].max_output_tokens == 8192


def test_a_config_without_the_section_is_refused() -> None:
    with pytest.raises(ValueError, match="llmstack_budget"):
        parse_settings({"model_list": []})


# --- the Redis counter against the machine's Redis --------------------------------------------------------


def redis_counter() -> RedisCounter:
    """A fresh counter under a unique prefix (its client binds to the loop of its first use)."""
    url = "redis://127.0.0.1:6379/0"
    try:
        run(RedisCounter(url, "probe").ping())
    except CounterUnavailable:
        pytest.skip("needs the Redis on 127.0.0.1:6379")
    return RedisCounter(url, f"unit-{uuid.uuid4().hex}")


def test_redis_reservations_are_atomic_under_concurrency() -> None:
    counter = redis_counter()

    async def scenario() -> tuple[int, tuple[int, int]]:
        results = await asyncio.gather(*(counter.reserve("d", f"h{i}", 100, 1050) for i in range(50)))
        return sum(r.admitted for r in results), await counter.spent("d")

    admitted, (spent, reserved) = run(scenario())
    assert admitted == 10 and (spent, reserved) == (0, 1000)


def test_redis_settle_is_idempotent_and_alerts_are_claimed_once() -> None:
    counter = redis_counter()

    async def scenario() -> tuple[Any, Any, tuple[int, int], list[bool]]:
        await counter.reserve("d", "h", 500, 1000)
        first = await counter.settle("d", "h", 300)
        second = await counter.settle("d", "h", 300)
        claims = [await counter.claim_alert("d", 0.5) for _ in range(3)]
        return first, second, await counter.spent("d"), claims

    first, second, spent, claims = run(scenario())
    assert first == 300 and second is None and spent == (300, 0)
    assert claims == [True, False, False]


def test_a_client_gone_before_a_plain_answer_settles_at_the_reservation() -> None:
    counter = MemoryCounter()
    hook = DailyBudget(settings(), counter)

    async def scenario() -> tuple[int, int, int]:
        data = await hook.async_pre_call_hook(None, None, request(max_tokens=10), "acompletion")
        hold = hook.open_hold(data["litellm_call_id"])
        assert hold is not None
        # what LiteLLM raises when the client disconnects (proxy/common_request_processing.py)
        gone = HTTPException(status_code=499, detail="Client disconnected the request")
        await hook.async_post_call_failure_hook(data, gone, None)
        spent, reserved = await counter.spent(hook.settings.day()[0])
        return spent, reserved, hold.amount

    spent, reserved, amount = run(scenario())
    assert (spent, reserved) == (amount, 0)


# -- a request larger than the whole cap or share (issue 12): waiting cannot help, so the refusal says what does --
def caller(**metadata: Any) -> Any:
    # the hooks read ``metadata`` from LiteLLM's UserAPIKeyAuth, which auth.py fills (proxy/_types.py)
    return SimpleNamespace(metadata=metadata)


CLIENTS: dict[str, Any] = {
    "llmstack_clients": {
        "clients": {
            "bot": {"key": "os.environ/LLMSTACK_CLIENT_BOT_KEY", "routes": ["g"]},
            "tools": {"key": "os.environ/LLMSTACK_CLIENT_TOOLS_KEY", "routes": ["g"], "daily_usd": 0.001},
        },
    }
}


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "LITELLM_MASTER_KEY": "sk-m" * 8,
        "LLMSTACK_CLIENT_BOT_KEY": "sk-b" * 8,
        "LLMSTACK_CLIENT_TOOLS_KEY": "sk-t" * 8,
    }
    registry = parse_registry(CLIENTS, env)
    monkeypatch.setattr("llmstack_gateway.clients.registry", lambda: registry)


@pytest.mark.parametrize(
    ("call_type", "body", "limit"),
    [
        ("acompletion", request(), "max_tokens"),
        ("aresponses", {"model": "g", "input": "hello"}, "max_output_tokens"),
    ],
)
def test_a_request_over_the_whole_cap_is_told_to_shrink_not_to_wait(
    call_type: str, body: dict[str, Any], limit: str
) -> None:
    hook = DailyBudget(settings(daily_usd=0.001), MemoryCounter())  # the request's worst case: ~$0.0016
    with pytest.raises(HTTPException) as caught:
        run(hook.async_pre_call_hook(None, None, dict(body), call_type))
    assert caught.value.status_code == 429
    message = caught.value.detail["error"]
    assert message.startswith(
        "the daily budget of $0.001 cannot cover this request on any day: its worst case (up to $0.001"
    )
    assert (
        f"so waiting for the reset will not help; lower {limit} " in message
        and "shorten the input" in message
    )
    assert "resets at" not in message and caught.value.detail["reason"] == "daily_budget_exhausted"


def test_a_request_over_a_clients_whole_share_is_told_to_shrink_not_to_wait(clients: None) -> None:
    hook = DailyBudget(settings(daily_usd=1.0), MemoryCounter())
    with pytest.raises(HTTPException) as caught:
        run(hook.async_pre_call_hook(caller(llmstack_client="tools"), None, request(), "acompletion"))
    message = caught.value.detail["error"]
    assert message.startswith(
        "client tools's share of $0.001 cannot cover this request on any day: its worst case"
    )
    assert "waiting for the reset will not help; lower max_tokens " in message and "resets at" not in message
    assert caught.value.detail["reason"] == "client_share_exhausted"
    # a request that fits the share once the share's spend resets still says when that is
    small = request(max_tokens=10)  # ~$0.00021: the fifth passes the $0.001 share
    spent_share = DailyBudget(settings(daily_usd=1.0), MemoryCounter())

    async def five() -> None:
        for _ in range(5):
            await spent_share.async_pre_call_hook(
                caller(llmstack_client="tools"), None, dict(small), "acompletion"
            )

    with pytest.raises(HTTPException) as caught:
        run(five())
    assert "client tools's share of $0.001 is spent for today" in caught.value.detail["error"]
    assert "it resets at " in caught.value.detail["error"]


def test_the_master_keys_spend_is_the_operators_in_the_days_totals(clients: None) -> None:
    """The records name the master key's caller "operator"; the day's split names its spend the same."""
    counter = MemoryCounter()
    hook = DailyBudget(settings(daily_usd=1.0), counter)

    class Response:
        _hidden_params: ClassVar[dict[str, float]] = {"response_cost": 0.0002}

    async def scenario() -> dict[str, int]:
        for who in (caller(llmstack_operator=True), caller(llmstack_client="bot")):
            data = await hook.async_pre_call_hook(who, None, request(max_tokens=10), "acompletion")
            await hook.async_post_call_success_hook(data, who, Response())
        (totals,) = await counter.history([hook.settings.day()[0]])
        return totals.by_client

    assert run(scenario()) == {OPERATOR.name: to_nano(0.0002), "bot": to_nano(0.0002)}
    assert OPERATOR.name == "operator"
