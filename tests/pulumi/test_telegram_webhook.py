"""The webhook resource's provider against a fake Bot API: set on create/update, delete on delete."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc

from infra.simulator.telegram import FakeTelegram
from infra.telegram import TelegramError, WebhookProvider
from tests.pulumi.provider_host import provider_host

TOKEN = "123456789" + ":" + "T" * 30


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    with fake.running():
        yield fake


def props(telegram: FakeTelegram, **overrides: object) -> dict[str, object]:
    return {
        "api_base": telegram.api_base,
        "bot_token": TOKEN,
        "url": "https://bot.up.railway.app/telegram/webhook",
        "secret_token": "s3cret-token_value",
        "allowed_updates": ["message", "callback_query"],
        "max_connections": 40,
        **overrides,
    }


def test_create_sets_the_webhook_with_secret_and_update_types(telegram: FakeTelegram) -> None:
    created = WebhookProvider().create(props(telegram))
    assert telegram.webhook["secret_token"] == "s3cret-token_value"
    assert telegram.webhook["allowed_updates"] == ["message", "callback_query"]
    assert created.outs is not None and created.outs["url"].endswith("/telegram/webhook")


def test_a_new_secret_is_an_update(telegram: FakeTelegram) -> None:
    provider = WebhookProvider()
    outs = provider.create(props(telegram)).outs or {}
    diff = provider.diff("id", outs, props(telegram, secret_token="rotated"))
    assert diff.changes and not diff.replaces
    assert not provider.diff("id", outs, props(telegram)).changes
    provider.update("id", outs, props(telegram, secret_token="rotated"))
    assert telegram.webhook["secret_token"] == "rotated"


def test_delete_removes_the_webhook(telegram: FakeTelegram) -> None:
    provider = WebhookProvider()
    outs = provider.create(props(telegram)).outs or {}
    provider.delete("id", outs)
    assert telegram.methods() == ["setWebhook", "deleteWebhook"]
    assert telegram.webhook == {}


def test_check_refuses_plain_http_and_a_bad_secret(telegram: FakeTelegram) -> None:
    result = WebhookProvider().check({}, props(telegram, url="http://insecure", secret_token="has spaces"))
    assert {f.property for f in result.failures} == {"url", "secret_token"}


def test_check_accepts_unknown_values_during_a_first_preview(telegram: FakeTelegram) -> None:
    # what the dynamic-provider host hands check() for values computed later (the bot's domain, a generated
    # secret): before this, a first `pulumi preview` failed with "only delivers webhooks to https:// URLs"
    unknowns = props(telegram, url=Unknown(), secret_token=Unknown(), bot_token=Unknown())
    assert WebhookProvider().check({}, unknowns).failures == []


def test_telegrams_error_is_reported_without_the_token(telegram: FakeTelegram) -> None:
    with pytest.raises(TelegramError) as caught:
        WebhookProvider().create(props(telegram, allowed_updates=["everything"]))
    assert "can't parse allowed updates" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_unreachable_api_error_has_no_token() -> None:
    unreachable = {
        "api_base": "http://127.0.0.1:9",
        "bot_token": TOKEN,
        "url": "https://bot.example/telegram/webhook",
        "secret_token": "abc",
        "allowed_updates": [],
    }
    with pytest.raises(TelegramError) as caught:
        WebhookProvider().create(unreachable)
    assert TOKEN not in str(caught.value) and "ConnectError" in str(caught.value)


def test_a_first_preview_over_grpc_passes_check(telegram: FakeTelegram) -> None:
    # the engine sends its unknown sentinel for the bot's domain; the real host turns it into Unknown
    with provider_host(
        "urn:pulumi:dev::llmstack::pulumi-python:dynamic/telegram:Webhook::bot-webhook"
    ) as host:
        assert host.check(WebhookProvider(), props(telegram, url=rpc.UNKNOWN)) == []
        failures = host.check(WebhookProvider(), props(telegram, url="http://plain.example"))
    assert failures == [("url", "Telegram only delivers webhooks to https:// URLs")]
