"""Settings validation and message formatting."""

from __future__ import annotations

import pytest
from bot_harness import required_settings
from llmstack_bot.app import alert_text
from llmstack_bot.telegram import split_message
from pydantic import ValidationError


def test_a_weak_or_missing_secret_stops_the_bot_outside_local_mode() -> None:
    with pytest.raises(ValidationError, match="TELEGRAM_WEBHOOK_SECRET is missing or weak"):
        required_settings(telegram_webhook_secret="short")
    with pytest.raises(ValidationError, match="ALERTS_SECRET is missing or weak"):
        required_settings(alerts_secret="")
    with pytest.raises(ValidationError, match="not a bot token"):
        required_settings(telegram_bot_token="nonsense")
    assert required_settings(telegram_webhook_secret="short", llmstack_local=True).llmstack_local


def test_lists_come_from_the_environment_as_railway_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOWED_USER_IDS", "1, 2,3")
    monkeypatch.setenv("ROUTES", '["balanced", "simple"]')
    settings = required_settings()
    assert settings.allowed_user_ids == [1, 2, 3] and settings.routes == ["balanced", "simple"]


def test_an_empty_allow_list_means_nobody() -> None:
    assert required_settings().allowed_user_ids == []


def test_default_route_must_be_a_route() -> None:
    with pytest.raises(ValidationError, match="DEFAULT_ROUTE"):
        required_settings(default_route="vision", routes=["balanced"])


def test_railway_postgres_urls_use_psycopg() -> None:
    assert (
        required_settings(database_url="postgresql://u:p@h:5432/db").sqlalchemy_url()
        == "postgresql+psycopg://u:p@h:5432/db"
    )
    assert required_settings().sqlalchemy_url().startswith("sqlite:///")


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


def test_a_refusal_below_the_cap_is_not_called_100_percent_reached() -> None:
    # the gateway's payload (llmstack_gateway/alerts.py): the 100% alert also goes out on a refusal by the cap
    alert = {
        "event": "budget_threshold",
        "stack": "dev",
        "day": "2026-12-01",
        "threshold": 1.0,
        "spent_usd": 0.0014,
        "cap_usd": 0.006,
        "resets_at": "2026-12-02T00:00:00+00:00",
        "refused": True,
    }
    text = alert_text(alert)
    assert "100%" not in text and "refused by the $0.006 daily cap with $0.0014 spent" in text
    reached = alert_text({**alert, "spent_usd": 0.0061})
    assert "100% of $0.006 reached" in reached and "A request was refused" in reached
    assert "<b>" in alert_text({**alert, "stack": "<b>"}) and "&lt;b&gt;" in alert_text(
        {**alert, "stack": "<b>"}
    )
