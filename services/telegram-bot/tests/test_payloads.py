"""The update fixtures are what Telegram sends: aiogram parses the well-formed ones and refuses the docs'
incomplete examples, entities point at the text they claim, and ``load`` overrides nested fields."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import Update
from payloads import (
    BOT_USERNAME,
    GROUP_ID,
    NEVER_PROCESSED,
    PARSED_BY_AIOGRAM,
    SUPERGROUP_ID,
    USER_ID,
    load,
    names,
    raw,
)
from pydantic import ValidationError


def entity_text(text: str, entity: dict[str, Any]) -> str:
    # MessageEntity offset and length are in UTF-16 code units (Bot API docs, MessageEntity)
    units = text.encode("utf-16-le")
    start, length = entity["offset"] * 2, entity["length"] * 2
    return units[start : start + length].decode("utf-16-le")


def test_every_file_has_a_verdict() -> None:
    assert set(names()) == set(PARSED_BY_AIOGRAM)
    assert len(names()) >= 30


@pytest.mark.parametrize("name", sorted(PARSED_BY_AIOGRAM))
def test_aiogram_parses_or_refuses_as_recorded(name: str) -> None:
    payload = load(name)
    if PARSED_BY_AIOGRAM[name]:
        update = Update.model_validate(payload)
        assert update.event_type != "update", f"{name} has no event aiogram recognises"
    else:
        with pytest.raises(ValidationError):
            Update.model_validate(payload)


def test_the_docs_examples_lack_what_the_bot_api_requires() -> None:
    assert "type" not in load("docs_text_without_chat_type")["message"]["chat"]
    for name in ("docs_text_without_is_bot", "docs_edited_message", "docs_voice", "docs_callback_query"):
        event = next(v for k, v in load(name).items() if k != "update_id")
        assert "is_bot" not in event["from"], name
    with pytest.raises(ValidationError, match="is_bot"):
        Update.model_validate(load("docs_text_without_is_bot"))
    with pytest.raises(ValidationError, match=r"chat\.type"):
        Update.model_validate(load("docs_text_without_chat_type"))


def test_update_id_true_is_coerced_by_aiogram_so_the_webhook_must_look_first() -> None:
    payload = load("update_id_true")
    assert payload["update_id"] is True
    assert Update.model_validate(payload).update_id == 1
    assert "update_id_true" in NEVER_PROCESSED
    assert not NEVER_PROCESSED & {
        n for n in names() if not n.startswith(("docs_", "update_id_", "message_w"))
    }


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("group_mention", "mention", f"@{BOT_USERNAME}"),
        ("group_mention_other", "mention", "@someone_else"),
        ("group_command_addressed", "bot_command", f"/help@{BOT_USERNAME}"),
        ("group_command_other_bot", "bot_command", "/help@SomeOtherBot"),
        ("group_command_bare", "bot_command", "/usage"),
        ("private_command", "bot_command", "/start"),
        ("supergroup_stranger_mention", "mention", f"@{BOT_USERNAME}"),
    ],
)
def test_entities_cover_the_text_they_name(name: str, kind: str, expected: str) -> None:
    message = load(name)["message"]
    (entity,) = message["entities"]
    assert entity["type"] == kind
    assert entity_text(message["text"], entity) == expected


def test_caption_entities_and_chat_kinds() -> None:
    message = load("group_photo_caption_mention")["message"]
    assert entity_text(message["caption"], message["caption_entities"][0]) == f"@{BOT_USERNAME}"
    assert load("group_plain")["message"]["chat"] == {
        **load("group_plain")["message"]["chat"],
        "id": GROUP_ID,
    }
    assert load("supergroup_reply_to_bot")["message"]["chat"]["id"] == SUPERGROUP_ID
    replied = load("supergroup_reply_to_bot")["message"]["reply_to_message"]["from"]
    assert replied["is_bot"] and replied["username"] == BOT_USERNAME
    post = load("channel_post")["channel_post"]
    assert "from" not in post and post["sender_chat"]["type"] == "channel"


def test_photo_sizes_grow_and_the_sender_is_allowed() -> None:
    sizes = load("photo")["message"]["photo"]
    assert [s["file_id"] for s in sizes] == ["photo-small", "photo-medium", "photo-large"]
    assert [s["file_size"] for s in sizes] == sorted(s["file_size"] for s in sizes)
    assert load("photo")["message"]["from"]["id"] == USER_ID
    assert "caption" not in load("photo")["message"]
    assert load("photo_caption")["message"]["caption"] == "what is in this picture?"


def test_member_updates_say_who_changed() -> None:
    blocked = Update.model_validate(load("my_chat_member_blocked")).my_chat_member
    assert blocked is not None and blocked.new_chat_member.status == "kicked"
    added = Update.model_validate(load("my_chat_member_added_to_group")).my_chat_member
    assert added is not None and added.chat.type == "group" and added.new_chat_member.status == "member"


def test_overrides_reach_nested_fields_and_list_items() -> None:
    payload = load("photo", update_id=7, message__from__id=6666, message__photo__2__file_size=30_000_000)
    assert payload["update_id"] == 7
    assert payload["message"]["from"]["id"] == 6666
    assert payload["message"]["photo"][2]["file_size"] == 30_000_000
    assert load("photo")["message"]["photo"][2]["file_size"] == 96131  # the file itself is untouched
    assert load("private_text", message__reply_markup__x=1)["message"]["reply_markup"] == {"x": 1}
    assert raw("private_text").startswith(b"{")


def test_bad_overrides_and_names_fail_loudly() -> None:
    with pytest.raises(IndexError):
        load("photo", message__photo__9__file_size=1)
    with pytest.raises(FileNotFoundError):
        load("no_such_update")
