"""End to end: a Telegram update -> the bot's webhook -> the real LiteLLM gateway -> the provider simulator,
with a provider down, the budget cap reached, and the cap's alert arriving in the admin chat."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.localgateway import LocalBot, LocalGateway
from infra.simulator import ProviderSimulator
from infra.simulator.telegram import FakeTelegram
from tests.integration.conftest import (
    MASTER_KEY,
    RedisBudget,
    needs_redis,
    stack_spec,
    start_gateway,
    tell_bot,
)

TOKEN = "123456789:" + "E" * 35
WEBHOOK_SECRET = secrets.token_urlsafe(32)
ALERTS_SECRET = secrets.token_urlsafe(32)
USER, ADMIN = 5001, 5999
SPEC = stack_spec(
    "dev",
    gateway={"replicas": 1, "workers": 1, "shared_state": "redis"},
    budget={"daily_usd": 2.0, "alert_thresholds": [0.5, 1.0]},
)


pytestmark = needs_redis


@pytest.fixture(scope="module")
def stack(simulator: ProviderSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    telegram = FakeTelegram(TOKEN)
    with telegram.running(), RedisBudget.fresh("llmstack-e2e") as budget:
        bot = LocalBot(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "TELEGRAM_API_BASE": telegram.api_base,
                "ALERTS_SECRET": ALERTS_SECRET,
                "GATEWAY_API_KEY": MASTER_KEY,
                "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('bot') / 'bot.db'}",
                "ALLOWED_USER_IDS": str(USER),
                "ADMIN_CHAT_ID": str(ADMIN),
                "DEFAULT_ROUTE": "balanced",
                "ROUTES": '["balanced", "simple", "vision", "long-context"]',
                "GATEWAY_ATTEMPTS": "2",
                "BIND_HOST": "127.0.0.1",
            }
        )
        gateway: LocalGateway = start_gateway(
            SPEC,
            simulator,
            env={
                **budget.gateway_env(),
                "BUDGET_ALERT_URL": f"{bot.url}/alerts",
                "BUDGET_ALERT_SECRET": ALERTS_SECRET,
            },
        )
        bot.env = {**bot.env, "GATEWAY_BASE_URL": gateway.url}
        with gateway.running(), bot.running():
            yield {"telegram": telegram, "bot": bot, "gateway": gateway, "budget": budget}


def say(stack: dict[str, Any], update_id: int, text: str) -> str:
    """Post one update as Telegram would and wait for the bot's reply."""
    replies = tell_bot(stack["bot"], stack["telegram"], user=USER, text=text, update_id=update_id)
    assert replies, f"no reply to {text!r}"
    return str(replies[-1]["text"])


def test_a_conversation_through_a_fallback_with_history_and_usage(
    stack: dict[str, Any], simulator: ProviderSimulator
) -> None:
    simulator.reset()
    simulator.set("anthropic", "500")  # balanced -> claude-sonnet is down; gemini-pro answers
    reply = say(stack, 1, "hello through the gateway")
    assert reply == "[gemini/gemini-2.5-pro] simulated answer"
    assert [r.model for r in simulator.requests()] == ["claude-sonnet-4-6", "gemini-2.5-pro"]
    simulator.reset()
    say(stack, 2, "and a follow-up")
    (request,) = [r for r in simulator.requests() if r.status == 200]
    assert request.model == "claude-sonnet-4-6"  # anthropic is back
    usage = say(stack, 3, "/usage")
    assert usage.startswith("Today: 2 request(s), $")
    assert float(usage.split("$")[1].rstrip(".")) > 0


def test_the_budget_cap_produces_the_budget_message_and_an_admin_alert(stack: dict[str, Any]) -> None:
    import datetime as dt

    # spend the day's budget: the counter is the shared one in Redis
    day = dt.datetime.now(dt.UTC).date().isoformat()
    budget: RedisBudget = stack["budget"]
    budget.client.set(budget.key(day, "spent"), str(int(2.0 * 1e9)))
    reply = say(stack, 10, "one more, please")
    # read from the 429's figures (provider_specific_fields), not cut out of its text
    assert re.fullmatch(
        r"The daily budget is reached; it resets at \d{4}-\d\d-\d\dT00:00:00\+00:00 \(UTC\)\.", reply
    )
    telegram: FakeTelegram = stack["telegram"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(telegram.sent(ADMIN)) < 2:
        time.sleep(0.1)
    alerts = [p["text"] for p in telegram.sent(ADMIN)]
    assert any("100% of $2 reached" in a for a in alerts), alerts
    assert any("50% of $2 reached" in a for a in alerts), alerts
