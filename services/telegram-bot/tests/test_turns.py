"""A turn happens once and users run in parallel: a slow model call for one chat, Telegram's 429 and 403 in the
middle of an answer, against the Telegram stand-in's faults (infra/simulator/telegram_faults.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from bot_harness import RunningBot, bot_settings, message, start_bot, wait_for
from llmstack_bot.telegram import split_message

from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway

#: FakeGateway's answer in "long" mode
LONG_ANSWER = "<b>bold?</b> & " * 700


@pytest.fixture
def bot(database_url: str, telegram: FakeTelegram, gateway: FakeGateway) -> Iterator[RunningBot]:
    running = start_bot(bot_settings(database_url, telegram, gateway.url, worker_concurrency=4))
    yield running
    running.stop()


def delivered(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [m["text"] for m in telegram.delivered(chat_id)]


def history(bot: RunningBot, chat_id: int) -> list[tuple[str, str]]:
    ctx = bot.app.state.ctx
    return [(m["role"], m["content"]) for m in ctx.history.recent(chat_id, 10**6)]


def test_user_b_is_answered_while_user_a_waits_for_a_slow_model(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    gateway.delay_by_user["1001"] = 4.0
    bot.post(message(1, 1001, "a slow question"))
    wait_for(lambda: len(gateway.requests) == 1)  # A's call is running
    asked = time.monotonic()
    bot.post(message(2, 1002, "a quick one"))
    wait_for(lambda: delivered(telegram, 1002), timeout=10)
    waited = time.monotonic() - asked
    assert delivered(telegram, 1001) == [], "A's answer came first: B did wait"
    assert waited < 2.5, f"B waited {waited:.1f} s behind A's 4 s call"
    wait_for(lambda: delivered(telegram, 1001), timeout=10)


def test_one_chat_is_served_one_turn_at_a_time_in_order(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    gateway.delay_s = 0.3
    for n in range(3):
        bot.post(message(10 + n, 1001, f"question {n}"))
    wait_for(lambda: len(delivered(telegram, 1001)) == 3, timeout=15)
    assert delivered(telegram, 1001) == ["echo: question 0", "echo: question 1", "echo: question 2"]
    assert gateway.max_in_flight["1001"] == 1


def test_a_429_on_part_2_resends_only_part_2_after_retry_after(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    gateway.mode = "long"  # an answer of several parts
    telegram.fail("sendMessage", 429, retry_after=1, times=1, after=1, chat_id=1001)
    bot.post(message(20, 1001, "write a lot"))
    wait_for(lambda: bot.app.state.inbox.counts() == {"done": 1}, timeout=20)
    parts = delivered(telegram, 1001)
    assert parts == split_message(LONG_ANSWER)  # every part delivered once, in order
    assert len(parts) >= 3
    attempts = [p["text"] for p in telegram.sent(1001)]
    # part 1 once, part 2 refused then resent, the rest once
    assert attempts == parts[:2] + parts[1:]
    assert telegram.early_retries == [], "part 2 was sent again before retry_after passed"
    assert len(gateway.requests) == 1
    assert [role for role, _ in history(bot, 1001)] == ["user", "assistant"]


def test_a_long_flood_wait_hands_the_update_back_and_resumes_where_it_stopped(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    running = start_bot(bot_settings(database_url, telegram, gateway.url, telegram_max_retry_after_s=0.5))
    try:
        gateway.mode = "long"
        telegram.fail("sendMessage", 429, retry_after=1, times=1, after=2, chat_id=1001)
        running.post(message(25, 1001, "write a lot"))
        wait_for(lambda: running.app.state.inbox.counts() == {"done": 1}, timeout=20)
        row = running.app.state.inbox.get(25)
        assert row["attempts"] == 2  # handed back once, resumed once
        attempts = [p["text"] for p in telegram.sent(1001)]
        parts = delivered(telegram, 1001)
        assert parts == split_message(LONG_ANSWER)
        assert attempts == parts[:3] + parts[2:]  # part 3 refused once, then resumed from part 3
        assert len(gateway.requests) == 1
    finally:
        running.stop()


def test_a_blocked_user_costs_one_model_call_and_the_chat_is_marked_unreachable(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    # the block lands after the typing indicator went through: the model is asked, the answer refused
    telegram.fail(
        "sendMessage", 403, description="Forbidden: bot was blocked by the user", times=None, chat_id=1001
    )
    bot.post(message(30, 1001, "hello?"))
    wait_for(lambda: bot.app.state.inbox.counts() == {"done": 1}, timeout=15)
    time.sleep(0.5)  # nothing more happens
    assert len(gateway.requests) == 1
    assert len(telegram.sent(1001)) == 1 and delivered(telegram, 1001) == []
    ctx = bot.app.state.ctx
    assert ctx.chats.unreachable(1001) == "Forbidden: bot was blocked by the user"
    assert ctx.journal.count("undeliverable") == 1
    assert [role for role, _ in history(bot, 1001)] == ["user", "assistant"]
    assert ctx.usage.today(1001, ctx.today())[0] == 1
    # unblocked: the user writes again and is answered; /usage counts the two questions, not the tries
    telegram.plan.faults.clear()
    bot.post(message(31, 1001, "/usage"))
    wait_for(lambda: delivered(telegram, 1001), timeout=10)
    assert delivered(telegram, 1001) == ["Today: 1 request(s), $0.000420."]
    assert ctx.chats.unreachable(1001) is None


def test_a_chat_that_blocked_the_bot_stops_before_the_model(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    telegram.block(1002, reason="deactivated")
    bot.post(message(40, 1002, "anyone?"))
    wait_for(lambda: bot.app.state.inbox.counts() == {"done": 1}, timeout=15)
    assert gateway.requests == []  # the typing indicator got the 403 first
    assert bot.app.state.ctx.chats.unreachable(1002) == "Forbidden: user is deactivated"


def test_telegram_server_errors_are_retried_with_backoff_and_bounded(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    running = start_bot(bot_settings(database_url, telegram, gateway.url, max_attempts=2))
    try:
        telegram.fail("sendMessage", 502, times=1, chat_id=1001)
        running.post(message(50, 1001, "first"))
        wait_for(lambda: delivered(telegram, 1001) == ["echo: first"], timeout=15)
        assert len(gateway.requests) == 1  # the retry resumed from the journal
        telegram.fail("sendMessage", 500, times=None, chat_id=1002)
        running.post(message(51, 1002, "second"))
        wait_for(lambda: running.app.state.inbox.get(51)["status"] == "failed", timeout=15)
        assert running.app.state.inbox.get(51)["attempts"] == 2
        assert len(gateway.requests) == 2
    finally:
        running.stop()
