"""One trace from Telegram's delivery to the provider's answer: the bot's spans (webhook -> turn -> gateway call ->
sendMessage) and the real gateway's (LiteLLM's otel callback) reach one fake OTLP collector under one trace id."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import httpx
import pytest

from infra.localgateway import LocalBot
from infra.observability import bot_trace_variables, gateway_trace_variables
from infra.render import with_in_memory_counter
from infra.simulator import ProviderSimulator
from infra.simulator.telegram import FakeTelegram
from tests.fakes.otlp_collector import OtlpCollector
from tests.integration.conftest import MASTER_KEY, stack_spec, start_gateway

TOKEN = "123456789:" + "T" * 35
WEBHOOK_SECRET = secrets.token_urlsafe(32)
USER = 5101


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector().running() as running:
        yield running


@pytest.fixture(scope="module")
def bot(
    simulator: ProviderSimulator, collector: OtlpCollector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalBot, FakeTelegram]]:
    spec = with_in_memory_counter(stack_spec("dev", observability={"otlp": {"endpoint": collector.base_url}}))
    # what the program gives each service (infra/observability.py); a short batch delay for the test
    fast = {"OTEL_BSP_SCHEDULE_DELAY": "100"}
    gateway = start_gateway(spec, simulator, env={**gateway_trace_variables(spec), **fast})
    telegram = FakeTelegram(TOKEN)
    with telegram.running(), gateway.running():
        local_bot = LocalBot(
            {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "TELEGRAM_API_BASE": telegram.api_base,
                "ALERTS_SECRET": secrets.token_urlsafe(32),
                "GATEWAY_API_KEY": MASTER_KEY,
                "GATEWAY_BASE_URL": gateway.url,
                "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('bot') / 'bot.db'}",
                "ALLOWED_USER_IDS": str(USER),
                "DEFAULT_ROUTE": "balanced",
                "ROUTES": '["balanced"]',
                "BIND_HOST": "127.0.0.1",
                **bot_trace_variables(spec),
                **fast,
            }
        )
        with local_bot.running():
            yield local_bot, telegram


def test_the_bots_trace_continues_in_the_gateway(
    bot: tuple[LocalBot, FakeTelegram], collector: OtlpCollector
) -> None:
    local_bot, telegram = bot
    update = {
        "update_id": 9001,
        "message": {
            "message_id": 1,
            "date": 1796000000,
            "text": "hello through the stack",
            "from": {"id": USER, "is_bot": False, "first_name": "u"},
            "chat": {"id": USER, "type": "private", "first_name": "u"},
        },
    }
    response = httpx.post(
        f"{local_bot.url}/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    (turn,) = collector.wait_for(
        lambda s: s.name == "turn" and s.attributes.get("telegram.update_id") == 9001
    )
    llm = collector.wait_for(lambda s: s.trace_id == turn.trace_id and s.name == "litellm_request")
    assert llm, sorted({(s.resource.get("service.name"), s.name) for s in collector.spans})
    (call,) = [
        s for s in collector.spans if s.trace_id == turn.trace_id and s.name == "gateway chat.completions"
    ]
    assert call.resource["service.name"] == "llmstack-bot"
    assert llm[0].resource["service.name"] == "llmstack-gateway"
    assert llm[0].parent_span_id == call.span_id  # the gateway's span hangs under the bot's call
    assert llm[0].attributes["litellm.model_group"] == "claude-sonnet"  # dev's balanced route
    assert collector.wait_for(lambda s: s.trace_id == turn.trace_id and s.name == "telegram sendMessage")
    assert telegram.sent(USER)
