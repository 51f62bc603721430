"""The running bot's /metrics, spans and /spend, end to end against the fake Bot API, the fake gateway, a fake
OTLP collector and a loopback /budget shaped like the gateway's (SQLite: the database is not what is tested)."""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from bot_harness import ALERTS_SECRET, GATEWAY_KEY, RunningBot, bot_settings, message, start_bot, wait_for
from prometheus_client.parser import text_string_to_metric_families
from test_observability import BUDGET, GUARD_REFUSAL, budget_endpoint

from infra.simulator.loopback import serve
from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway
from tests.fakes.otlp_collector import OtlpCollector

ADMIN_GROUP = -100777
USER = 1001


def scrape(bot: RunningBot, secret: str | None = ALERTS_SECRET) -> httpx.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret is not None else {}
    return httpx.get(f"{bot.url}/metrics", headers=headers, timeout=10)


def values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpCollector]:
    with OtlpCollector().running() as running:
        # what the deployment sets for the bot (OpenTelemetry SDK variables); read when the app is created
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", running.url)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        yield running


@pytest.fixture
def bot(
    tmp_path: Path, telegram: FakeTelegram, gateway: FakeGateway, collector: OtlpCollector
) -> Iterator[RunningBot]:
    settings = bot_settings(
        f"sqlite:///{tmp_path / 'bot.db'}", telegram, gateway.url, admin_chat_id=ADMIN_GROUP
    )
    running = start_bot(settings)
    yield running
    running.stop()


def test_metrics_need_the_alerts_secret(bot: RunningBot) -> None:
    assert scrape(bot, None).status_code == 403
    assert scrape(bot, "wrong-" + ALERTS_SECRET).status_code == 403
    assert scrape(bot).status_code == 200


def test_an_answered_update_is_counted_timed_and_traced(
    bot: RunningBot, telegram: FakeTelegram, collector: OtlpCollector
) -> None:
    assert bot.post(message(501, USER, "hello there")).status_code == 200
    assert bot.post(message(501, USER, "hello there")).json()["duplicate"] is True
    assert bot.post({"update_id": 502}, secret="wrong").status_code == 403
    wait_for(lambda: bool(telegram.sent(USER)))
    wait_for(lambda: bot.app.state.inbox.get(501)["status"] == "done")
    got = values(scrape(bot).text)
    assert got[("llmstack_bot_updates_total", (("outcome", "accepted"),))] == 1
    assert got[("llmstack_bot_updates_total", (("outcome", "duplicate"),))] == 1
    assert got[("llmstack_bot_updates_total", (("outcome", "forbidden"),))] == 1
    assert got[("llmstack_bot_turns_total", (("outcome", "done"),))] == 1
    assert got[("llmstack_bot_reply_latency_seconds_count", (("outcome", "done"),))] == 1
    assert got[("llmstack_bot_gateway_call_seconds_count", (("outcome", "ok"),))] == 1
    assert got[("llmstack_bot_queue_depth", ())] == 0
    # one trace: Telegram's delivery, the turn, the gateway call, the reply
    spans = collector.wait_for(lambda s: s.name == "telegram sendMessage")
    trace_id = spans[0].trace_id
    names = {s.name: s for s in collector.spans if s.trace_id == trace_id}
    assert {"telegram webhook", "turn", "gateway chat.completions", "telegram sendMessage"} <= set(names)
    assert names["turn"].parent_span_id == names["telegram webhook"].span_id
    assert names["gateway chat.completions"].parent_span_id == names["turn"].span_id
    assert names["turn"].attributes["telegram.update_id"] == 501


def test_telegram_errors_are_counted(bot: RunningBot, telegram: FakeTelegram) -> None:
    telegram.fail("sendMessage", 400, description="Bad Request: chat not found")
    bot.post(message(601, USER, "hello"))
    wait_for(lambda: bot.app.state.inbox.get(601)["status"] in ("done", "failed"))
    got = values(scrape(bot).text)
    key = ("llmstack_bot_telegram_errors_total", (("kind", "bad_request"), ("method", "sendMessage")))
    assert got[key] == 1


def budget_handler(seen: list[dict[str, str]], readers: set[str]) -> type[BaseHTTPRequestHandler]:
    """/budget as the gateway answers it: 200 for a key that may read it, else 403 with the surface guard's body
    (llmstack_gateway/surface.py; its message from clients.operator_route_refusal)."""
    return budget_endpoint(
        lambda authorization: (
            (200, BUDGET) if authorization in {f"Bearer {key}" for key in readers} else (403, GUARD_REFUSAL)
        ),
        seen,
    )


def admin_message(update_id: int, text: str) -> dict[str, Any]:
    return message(update_id, USER, text, chat={"id": ADMIN_GROUP, "type": "supergroup", "title": "ops"})


def test_spend_in_the_admin_chat(tmp_path: Path, telegram: FakeTelegram) -> None:
    seen: list[dict[str, str]] = []
    readers: set[str] = set()  # the gateway's read_budget: off, then on
    with serve(budget_handler(seen, readers)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        running = start_bot(
            bot_settings(f"sqlite:///{tmp_path / 'b.db'}", telegram, url, admin_chat_id=ADMIN_GROUP)
        )
        try:
            running.post(admin_message(701, "/spend"))  # the bot client lacks read_budget: says what to set
            wait_for(lambda: bool(telegram.sent(ADMIN_GROUP)))
            refused = telegram.sent(ADMIN_GROUP)[-1]["text"]
            assert refused.startswith(
                "Spend is not available: the gateway does not let the bot's key read /budget"
            )
            assert "set clients.bot.read_budget: true in the catalog" in refused
            readers.add(GATEWAY_KEY)
            running.post(admin_message(702, "/spend"))
            wait_for(lambda: len(telegram.sent(ADMIN_GROUP)) == 2)
            text = telegram.sent(ADMIN_GROUP)[-1]["text"]
            assert "spent $0.5000 of $2 (25% of the cap)" in text
            assert "2026-11-30" in text
            # the bot's own client key both times: it holds no other
            assert [request["authorization"] for request in seen] == [f"Bearer {GATEWAY_KEY}"] * 2
            running.post(message(703, USER, "/spend"))  # a private chat is not the admin chat
            wait_for(lambda: bool(telegram.sent(USER)))
            assert telegram.sent(USER)[-1]["text"] == "/spend works in the admin chat only."
        finally:
            running.stop()
