"""The bot's rules without a server: who a group message is for, what the webhook accepts, question clipping,
and the settings that bound the worker and the database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram.types import Update
from bot_harness import required_settings
from llmstack_bot.addressing import command_target, is_addressed, without_mention
from llmstack_bot.context import BotIdentity
from llmstack_bot.db import make_engine
from llmstack_bot.turns import clip
from llmstack_bot.updates import NotJson, judge
from payloads import BOT_ID, BOT_USERNAME, load, raw
from pydantic import ValidationError

ME = BotIdentity(BOT_ID, BOT_USERNAME)


def addressed(name: str, **overrides: Any) -> bool:
    message = Update.model_validate(load(name, **overrides)).message
    assert message is not None
    return is_addressed(message, ME)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("private_text", True),
        ("private_command", True),
        ("group_plain", False),
        ("group_mention", True),
        ("group_mention_other", False),
        ("group_command_addressed", True),
        ("group_command_bare", True),
        ("group_command_other_bot", False),
        ("group_photo_caption_mention", True),
        ("supergroup_reply_to_bot", True),
        ("supergroup_reply_to_user", False),
    ],
)
def test_who_a_message_is_for(name: str, expected: bool) -> None:
    assert addressed(name) is expected


def test_a_mention_after_emoji_is_found_by_its_utf16_offset() -> None:
    # 😀 is two UTF-16 code units: the entity's offset counts them, Python's str indexing does not
    text = f"😀 @{BOT_USERNAME} hi"
    entity = [{"offset": 3, "length": len(BOT_USERNAME) + 1, "type": "mention"}]
    assert addressed("group_mention", message__text=text, message__entities=entity)
    wrong = [{"offset": 2, "length": len(BOT_USERNAME) + 1, "type": "mention"}]
    assert not addressed("group_mention", message__text=text, message__entities=wrong)


def test_commands_for_another_bot_are_not_ours_even_in_private() -> None:
    assert command_target("/help@SomeOtherBot now") == "SomeOtherBot"
    assert command_target("/help") is None and command_target("hello @x") is None
    assert not addressed("private_command", message__text="/help@SomeOtherBot")
    assert addressed("private_command", message__text=f"/help@{BOT_USERNAME.upper()}")


def test_the_bots_own_mention_is_not_sent_to_the_model() -> None:
    assert without_mention(f"@{BOT_USERNAME} what is 2+2?", ME) == "what is 2+2?"
    assert without_mention(f"ask @{BOT_USERNAME.upper()}, please", ME) == "ask , please"
    assert without_mention("no mention here", ME) == "no mention here"


def test_the_webhook_judge() -> None:
    with pytest.raises(NotJson):
        judge(b"{not json")
    assert judge(b"[1, 2]").problem == "an update is a JSON object, not list"
    assert judge(raw("update_id_true")).problem == "update_id must be an integer, not true"
    assert judge(raw("update_id_string")).update_id is None
    missing = judge(raw("docs_text_without_is_bot"))
    assert missing.update_id == 10000 and "is_bot: Field required" in (missing.problem or "")
    ok = judge(raw("group_mention"))
    assert (ok.problem, ok.kind, ok.user_id, ok.chat_id) == (None, "message", 1001, -4001234567)
    button = judge(raw("callback_query"))
    assert (button.kind, button.user_id, button.chat_id) == ("callback_query", 1001, 1001)
    unknown = judge(json.dumps({"update_id": 9, "something_new": {}}).encode())
    assert unknown.problem is None and unknown.kind is None  # a newer Bot API type: ignored, not refused


def test_a_question_is_clipped_with_a_notice() -> None:
    assert clip("short", 10) == ("short", None)
    text, notice = clip("x" * 25, 10)
    assert text == "x" * 10
    assert notice == "Your message has 25 characters; only the first 10 were sent to the model."


def test_worker_and_lease_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="WORKER_CONCURRENCY must be at least 1"):
        required_settings(worker_concurrency=0)
    with pytest.raises(ValidationError, match="INBOX_LEASE_S must be at least 1 second"):
        required_settings(inbox_lease_s=0.5)


def test_the_stop_timeout_is_railways_draining_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert required_settings().shutdown_timeout_s == 3.0  # Railway's default SIGTERM-to-SIGKILL time
    monkeypatch.setenv("RAILWAY_DEPLOYMENT_DRAINING_SECONDS", "20")
    assert required_settings().shutdown_timeout_s == 20.0
    monkeypatch.setenv("SHUTDOWN_TIMEOUT_S", "7")
    assert required_settings().shutdown_timeout_s == 7.0


def test_postgres_gets_connect_and_statement_timeouts_and_keeps_its_options() -> None:
    engine = make_engine(
        "postgresql+psycopg://u@h:5432/db?options=-csearch_path%3Dbot_1",
        connect_timeout_s=2.5,
        statement_timeout_s=4.0,
        pool_timeout_s=1.5,
    )
    assert engine.url.query["options"] == "-csearch_path=bot_1 -c statement_timeout=4000"
    assert engine.pool.timeout() == 1.5  # type: ignore[attr-defined]
    engine.dispose()
