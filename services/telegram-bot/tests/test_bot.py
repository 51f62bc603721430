"""The bot end to end on its own: webhook security, durable exactly-once processing, commands, faults, load."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from typing import Any

import pytest
from bot_harness import (
    ADMIN_CHAT,
    ALERTS_SECRET,
    RunningBot,
    bot_settings,
    message,
    start_bot,
    wait_for,
)
from sqlalchemy.exc import OperationalError

from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway


@pytest.fixture
def bot(database_url: str, telegram: FakeTelegram, gateway: FakeGateway) -> Iterator[RunningBot]:
    running = start_bot(bot_settings(database_url, telegram, gateway.url))
    yield running
    running.stop()


def texts(telegram: FakeTelegram, chat_id: int) -> list[str]:
    return [p["text"] for p in telegram.sent(chat_id)]


def test_missing_or_wrong_secret_is_403_and_nothing_is_processed(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    assert bot.post(message(1, 1001, "hi"), secret=None).status_code == 403
    assert bot.post(message(2, 1001, "hi"), secret="wrong").status_code == 403
    assert bot.app.state.inbox.counts() == {}
    assert gateway.requests == [] and telegram.sent() == []


def test_malformed_json_is_400_and_unregistered_types_are_ignored(bot: RunningBot) -> None:
    assert bot.post(None, raw=b"{not json").status_code == 400
    inline = {
        "id": "1",
        "from": {"id": 1001, "is_bot": False, "first_name": "a"},
        "query": "x",
        "offset": "",
    }
    ignored = bot.post({"update_id": 5, "inline_query": inline})
    assert ignored.status_code == 200 and ignored.json()["ignored"]
    assert bot.app.state.inbox.counts() == {}


def test_a_message_is_answered_once_history_and_usage_are_kept(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    assert bot.post(message(10, 1001, "hello there")).json() == {"ok": True, "duplicate": False}
    assert bot.post(message(10, 1001, "hello there")).json() == {
        "ok": True,
        "duplicate": True,
    }  # Telegram retried
    wait_for(lambda: texts(telegram, 1001))
    assert texts(telegram, 1001) == ["echo: hello there"]
    assert gateway.requests[0]["model"] == "balanced"
    assert any(m == "sendChatAction" for m, _ in telegram.calls)  # typing while waiting
    bot.post(message(11, 1001, "/usage"))
    wait_for(lambda: len(texts(telegram, 1001)) == 2)
    assert texts(telegram, 1001)[1] == "Today: 1 request(s), $0.000420."
    bot.post(message(12, 1001, "and again"))
    wait_for(lambda: len(texts(telegram, 1001)) == 3)
    # the history went with the second question
    assert [m["content"] for m in gateway.requests[1]["messages"]] == [
        "hello there",
        "echo: hello there",
        "and again",
    ]
    wait_for(lambda: bot.app.state.inbox.counts() == {"done": 3})


def test_commands(bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway) -> None:
    for update_id, text in enumerate(
        ["/start", "/model simple", "question", "/reset", "/model", "/model nope"], 20
    ):
        bot.post(message(update_id, 1002, text))
        wait_for(lambda n=update_id - 19: len(texts(telegram, 1002)) == n)
    replies = texts(telegram, 1002)
    assert "/model" in replies[0]
    assert replies[1] == "Route set to simple."
    assert gateway.requests[-1]["model"] == "simple"
    assert replies[3] == "Conversation forgotten (2 messages)."
    keyboard = telegram.sent(1002)[4]["reply_markup"]["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["route:balanced", "route:simple"]
    assert "Unknown route" in replies[5]
    commands = next(p for m, p in telegram.calls if m == "setMyCommands")["commands"]
    assert [c["command"] for c in commands] == ["start", "help", "reset", "model", "usage"]


def test_a_stranger_gets_no_model(bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway) -> None:
    bot.post(message(30, 4242, "let me in"))
    wait_for(lambda: texts(telegram, 4242))
    assert texts(telegram, 4242) == ["Sorry, this bot is private."]
    assert gateway.requests == []


def test_gateway_failure_is_retried_then_a_friendly_reply(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    gateway.mode = "fail"
    bot.post(message(40, 1001, "anyone?"))
    wait_for(lambda: texts(telegram, 1001), timeout=30)
    assert "could not reach the model" in texts(telegram, 1001)[0]
    assert len(gateway.requests) == 2  # gateway_attempts
    gateway.mode = "ok"  # the gateway is back
    bot.post(message(41, 1001, "now?"))
    wait_for(lambda: len(texts(telegram, 1001)) == 2)
    assert texts(telegram, 1001)[1] == "echo: now?"


@pytest.mark.parametrize(
    "refusal, reply",
    [
        ("budget", "The daily budget is reached; it resets at 2026-12-02T00:00:00+00:00 (UTC)."),
        (
            "share",
            "This bot's share of the daily budget is spent; it resets at 2026-12-02T00:00:00+00:00 (UTC).",
        ),
        (
            "never_fits",
            "This question is too large for the daily budget on any day. /reset starts a shorter conversation; "
            "if that does not help, ask the operator.",
        ),
    ],
)
def test_the_budget_refusal_is_explained_at_once(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway, refusal: str, reply: str
) -> None:
    gateway.mode = refusal
    bot.post(message(50, 1001, "expensive question"))
    wait_for(lambda: texts(telegram, 1001))
    assert texts(telegram, 1001) == [reply]
    assert len(gateway.requests) == 1  # a budget refusal is not retried: it cannot pass before the reset


def test_long_replies_are_split_and_escaped(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    gateway.mode = "long"
    bot.post(message(60, 1001, "write a lot"))
    wait_for(lambda: len(texts(telegram, 1001)) >= 3)
    parts = texts(telegram, 1001)
    assert all(len(p) <= 4096 for p in parts)
    assert "&lt;b&gt;bold?&lt;/b&gt; &amp;" in parts[0]
    assert telegram.rejected == []  # Telegram's HTML parser accepted every part


def test_budget_alerts_reach_the_admin_chat(bot: RunningBot, telegram: FakeTelegram) -> None:
    import httpx

    alert = {
        "stack": "prod",
        "threshold": 0.8,
        "spent_usd": 8.1,
        "cap_usd": 10.0,
        "day": "2026-12-01",
        "resets_at": "2026-12-02T00:00:00+00:00",
    }
    assert (
        httpx.post(f"{bot.url}/alerts", json=alert, headers={"X-LLMStack-Alert-Secret": "nope"}).status_code
        == 403
    )
    response = httpx.post(f"{bot.url}/alerts", json=alert, headers={"X-LLMStack-Alert-Secret": ALERTS_SECRET})
    assert response.status_code == 200
    (sent,) = telegram.sent(ADMIN_CHAT)
    assert "80% of $10 reached" in sent["text"] and "prod" in sent["text"]


def test_health_checks_the_database(bot: RunningBot) -> None:
    import httpx

    assert httpx.get(f"{bot.url}/health").json() == {"status": "ok", "database": "ok", "in_flight": 0}


def test_an_update_accepted_before_a_crash_is_answered_after_restart(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    settings = bot_settings(database_url, telegram, gateway.url)
    crashed = start_bot(settings, run_worker=False)  # accepts, never processes: the worker "died"
    assert crashed.post(message(70, 1001, "are you there?")).status_code == 200
    crashed.stop()
    assert telegram.sent(1001) == []
    restarted = start_bot(settings)
    try:
        wait_for(lambda: texts(telegram, 1001))
        assert texts(telegram, 1001) == ["echo: are you there?"]
        wait_for(lambda: restarted.app.state.inbox.counts() == {"done": 1})
    finally:
        restarted.stop()


def test_the_database_briefly_unavailable_makes_telegram_retry_and_nothing_is_lost(
    bot: RunningBot, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = bot.app.state.inbox
    original = inbox.accept

    def down(*args: Any) -> bool:
        # what SQLAlchemy raises when the server refuses the connection
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(inbox, "accept", down)
    assert bot.post(message(80, 1001, "during the outage")).status_code == 503
    monkeypatch.setattr(inbox, "accept", original)
    assert bot.post(message(80, 1001, "during the outage")).status_code == 200  # Telegram's redelivery
    wait_for(lambda: texts(telegram, 1001))
    assert texts(telegram, 1001) == ["echo: during the outage"]


def test_100_updates_from_50_users_are_each_answered_exactly_once(
    bot: RunningBot, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    gateway.delay_s = 0.01
    users = [1001, *range(2000, 2049)]
    allowed = set(users)
    bot.app.state.ctx.settings.allowed_user_ids.extend(u for u in allowed if u not in (1001, 1002))
    updates = [message(1000 + i, users[i % 50], f"question {i}") for i in range(100)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        statuses = list(
            pool.map(lambda u: bot.post(u).status_code, updates + updates[:25])
        )  # 25 redeliveries
    assert set(statuses) == {200}
    wait_for(lambda: len(telegram.sent()) >= 100, timeout=60)
    answered = [p["text"] for p in telegram.sent()]
    assert sorted(answered) == sorted(f"echo: question {i}" for i in range(100))
    wait_for(lambda: bot.app.state.inbox.counts() == {"done": 100})
    # one request in flight per user, users in parallel
    assert set(gateway.max_in_flight.values()) == {1}
    assert len(gateway.max_in_flight) == 50
