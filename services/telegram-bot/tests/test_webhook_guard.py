"""What the webhook answers Telegram, which redelivers anything not 2xx: updates that can never be processed
(the Bot API docs' own examples among them) get 200 and are kept for audit; oversized bodies 413; a hanging or
absent database 503 within seconds, with /health saying why, and the bot recovers when it comes back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from bot_harness import RunningBot, bot_settings, message, start_bot, wait_for
from payloads import NEVER_PROCESSED, load, names, raw

from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway
from tests.fakes.tcp_proxy import TcpProxy


@pytest.fixture
def bot(database_url: str, telegram: FakeTelegram, gateway: FakeGateway) -> Iterator[RunningBot]:
    running = start_bot(bot_settings(database_url, telegram, gateway.url, max_update_bytes=8192))
    yield running
    running.stop()


def post_raw(bot: RunningBot, body: bytes) -> httpx.Response:
    return bot.post(None, raw=body)


def test_no_real_update_shape_gets_a_5xx_and_the_unprocessable_ones_are_kept_for_audit(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    statuses = {name: post_raw(bot, raw(name)).status_code for name in names()}
    assert {name: s for name, s in statuses.items() if s != 200} == {}
    rejected = {name for name in names() if "rejected" in post_raw(bot, raw(name)).json()}
    assert rejected == NEVER_PROCESSED
    # kept by update_id (where there is an integer one), and logged once per update_id though posted twice
    kept = {load(name)["update_id"] for name in NEVER_PROCESSED - {"update_id_true", "update_id_string"}}
    for update_id in kept:
        row = bot.app.state.inbox.get(update_id)
        assert row is not None and row["status"] == "rejected" and "not a Bot API Update" in row["error"]
        logged = [r for r in caplog.records if r.getMessage().startswith(f"update {update_id} rejected")]
        assert len(logged) == 1
    assert post_raw(bot, raw("update_id_true")).json()["rejected"] == "update_id must be an integer, not true"
    # without an integer id the log line names the value, never "update None" (nothing an operator can find)
    messages = [r.getMessage() for r in caplog.records if "rejected, never processable" in r.getMessage()]
    assert (
        "update without an integer update_id rejected, never processable: update_id must be an integer, "
        "not true" in messages
    )
    assert not [m for m in messages if m.startswith("update None")]


def test_a_body_over_the_limit_is_refused_with_413(bot: RunningBot, gateway: FakeGateway) -> None:
    huge = message(1, 1001, "x" * 10_000)
    response = bot.post(huge)
    assert response.status_code == 413 and response.json()["error"] == "update too large"
    assert bot.app.state.inbox.counts() == {} and gateway.requests == []
    assert bot.post(message(2, 1001, "small")).status_code == 200


def test_the_bind_host_is_configurable(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    settings = bot_settings(database_url, telegram, gateway.url)
    assert settings.bind_host == "127.0.0.1"
    from llmstack_bot.settings import Settings

    assert Settings.model_fields["bind_host"].default == "0.0.0.0"  # Railway routes to every interface


TIMED_OUT = ("no answer within 2 s", "connection timeout expired")


def postgres_only(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a database that hangs or is away is a network database (SQLite is a file)")


def test_a_hanging_database_means_503_within_seconds_and_recovery(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    postgres_only(database_url)
    with TcpProxy("127.0.0.1", 5432).running() as proxy:
        settings = bot_settings(proxy.rewrite(database_url), telegram, gateway.url, db_request_timeout_s=2.0)
        running = start_bot(settings)
        try:
            assert running.post(message(1, 1001, "before")).status_code == 200
            wait_for(lambda: telegram.delivered(1001), 15)
            proxy.hang()
            started = time.monotonic()
            response = running.post(message(2, 1001, "during"))
            took = time.monotonic() - started
            assert response.status_code == 503 and took < 5, (response.status_code, took)
            # whichever wait ran out first says so: the query's (no answer) or a new connection's (libpq)
            assert any(why in response.json()["reason"] for why in TIMED_OUT), response.json()
            started = time.monotonic()
            health = httpx.get(f"{running.url}/health", timeout=30)
            assert health.status_code == 503 and time.monotonic() - started < 5
            assert health.json()["status"] == "unavailable"
            assert any(why in health.json()["database"] for why in TIMED_OUT), health.json()
            proxy.resume()
            # Telegram delivers the refused update again: now it is stored and answered
            wait_for(lambda: running.post(message(2, 1001, "during")).status_code == 200, 30)
            wait_for(lambda: len(telegram.delivered(1001)) == 2, 30)
            assert [m["text"] for m in telegram.delivered(1001)] == ["echo: before", "echo: during"]
            assert httpx.get(f"{running.url}/health", timeout=10).status_code == 200
        finally:
            proxy.resume()
            running.stop()


def test_the_bot_starts_without_its_database_and_recovers_when_it_comes(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    postgres_only(database_url)
    with TcpProxy("127.0.0.1", 5432).running() as proxy:
        proxy.down()
        running = start_bot(bot_settings(proxy.rewrite(database_url), telegram, gateway.url), ready=False)
        try:
            health = httpx.get(f"{running.url}/health", timeout=10)
            assert health.status_code == 503
            assert health.json()["database"].startswith("migrations failed: OperationalError")
            refused = running.post(message(1, 1001, "early"))
            assert refused.status_code == 503 and refused.json()["error"] == "storage unavailable"
            proxy.up()
            wait_for(lambda: httpx.get(f"{running.url}/health", timeout=10).status_code == 200, 20)
            assert running.post(message(1, 1001, "early")).status_code == 200  # Telegram's redelivery
            wait_for(lambda: telegram.delivered(1001), 15)
            assert [m["text"] for m in telegram.delivered(1001)] == ["echo: early"]
        finally:
            running.stop()
