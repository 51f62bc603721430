"""Settings validation and message formatting."""

from __future__ import annotations

from typing import Any

import pytest
from llmstack_bot.settings import Settings
from llmstack_bot.telegram import split_message
from pydantic import ValidationError

TOKEN = "123456789:" + "A" * 35
STRONG = "s" * 32


def make(**overrides: Any) -> Settings:
    values = {
        "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": STRONG,
        "alerts_secret": STRONG,
        "gateway_api_key": STRONG,
        **overrides,
    }
    return Settings(**values)


def test_a_weak_or_missing_secret_stops_the_bot_outside_local_mode() -> None:
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET is missing or weak"):
        make(telegram_webhook_secret="short")
    with pytest.raises(ValidationError, match="ALERTS_SECRET is missing or weak"):
        make(alerts_secret="")
    with pytest.raises(ValidationError, match="not a bot token"):
        make(telegram_bot_token="nonsense")
    assert make(telegram_webhook_secret="short", llmstack_local=True).llmstack_local


def test_lists_come_from_the_environment_as_railway_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_USER_IDS", "1, 2,3")
    monkeypatch.setenv("ROUTES", '["balanced", "simple"]')
    settings = make()
    assert settings.allowed_user_ids == [1, 2, 3] and settings.routes == ["balanced", "simple"]


def test_an_empty_allow_list_means_nobody() -> None:
    assert make().allowed_user_ids == []


def test_default_route_must_be_a_route() -> None:
    with pytest.raises(ValidationError, match="DEFAULT_ROUTE"):
        make(default_route="vision", routes=["balanced"])


def test_railway_postgres_urls_use_psycopg() -> None:
    assert (
        make(database_url="postgresql://u:p@h:5432/db").sqlalchemy_url()
        == "postgresql+psycopg://u:p@h:5432/db"
    )
    assert make().sqlalchemy_url().startswith("sqlite:///")


def test_split_keeps_every_part_within_the_limit_and_escapes() -> None:
    text = "line with <tags> & ampersands\n" * 400
    parts = split_message(text)
    assert all(len(p) <= 4096 for p in parts) and len(parts) > 1
    assert "".join(parts).count("&lt;tags&gt;") == 400
    assert not any(p.endswith("&") or p.endswith("&amp") for p in parts)


def test_a_single_huge_line_is_split_too() -> None:
    parts = split_message("&" * 10_000)
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts) == "&amp;" * 10_000
