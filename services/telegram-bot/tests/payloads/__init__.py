"""Telegram updates as Telegram sends them, for feeding the bot's webhook: ``load(name, **overrides)``.

Each ``<name>.json`` here is one Update. Most are complete payloads built field by field from the Bot API type
definitions (https://core.telegram.org/bots/api#update and the Message, PhotoSize, Sticker, Voice, Document,
CallbackQuery, ChatMemberUpdated types). The ``docs_*`` ones are the examples printed in Telegram's webhook guide
(https://core.telegram.org/bots/webhooks, "Testing your bot with updates"), kept as printed: they omit
``from.is_bot`` or ``chat.type``, which the Bot API marks required, so aiogram cannot parse them. A bot must
answer those with a 2xx so Telegram does not redeliver them, and never act on them.

Conventions shared with the bot's test harness (``bot_harness.py``) and the stand-in (``FakeTelegram``):
the sender is user 1001 (allowed), the bot is ``@llmstack_test_bot`` with id 123456789 (the harness token's
prefix), groups are -4001234567 (group) and -1001234567890 (supergroup); the photo's sizes are the file ids
``photo-small`` / ``photo-medium`` / ``photo-large`` (register bytes for them with ``FakeTelegram.add_file``).

Overrides address nested fields with ``__`` and list items with their index::

    load("group_mention", update_id=7, message__from__id=6666, message__text="@llmstack_test_bot hi")
    load("photo", message__photo__2__file_size=30_000_000)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BOT_USERNAME = "llmstack_test_bot"
BOT_ID = 123456789
USER_ID = 1001
GROUP_ID = -4001234567
SUPERGROUP_ID = -1001234567890

#: what aiogram's ``Update.model_validate`` does with each payload: True parses, False is a ValidationError
PARSED_BY_AIOGRAM: dict[str, bool] = {
    "private_text": True,
    "private_command": True,
    "private_emoji_text": True,
    "group_mention": True,
    "group_plain": True,
    "group_mention_other": True,
    "group_command_addressed": True,
    "group_command_other_bot": True,
    "group_command_bare": True,
    "group_photo_caption_mention": True,
    "supergroup_reply_to_bot": True,
    "supergroup_reply_to_user": True,
    "supergroup_stranger_mention": True,
    "channel_post": True,
    "edited_message": True,
    "photo": True,
    "photo_caption": True,
    "sticker": True,
    "voice": True,
    "document": True,
    "callback_query": True,
    "my_chat_member_blocked": True,
    "my_chat_member_added_to_group": True,
    "chat_member_joined": True,
    "docs_text_without_chat_type": False,
    "docs_text_without_is_bot": False,
    "docs_edited_message": False,
    "docs_voice": False,
    "docs_callback_query": False,
    # pydantic's lax mode turns JSON ``true`` into 1: aiogram parses it, so a webhook has to check the raw
    # ``update_id`` itself (a bool posing as update 1 would collide with the real update 1)
    "update_id_true": True,
    "update_id_string": False,
    "message_without_date": False,
}
#: payloads no bot should act on: a webhook answers them 2xx (no redelivery) and records the update_id
NEVER_PROCESSED = {name for name, parsed in PARSED_BY_AIOGRAM.items() if not parsed} | {"update_id_true"}


def names() -> list[str]:
    """Every payload's name, sorted."""
    return sorted(path.stem for path in HERE.glob("*.json"))


def load(name: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of payload ``name`` with ``overrides`` applied (``a__b__0__c=value`` sets
    ``payload["a"]["b"][0]["c"]``; a missing dict key is created, a missing list index is an error)."""
    payload: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    for dotted, value in overrides.items():
        _set(payload, dotted.split("__"), copy.deepcopy(value))
    return payload


def raw(name: str) -> bytes:
    """The payload's bytes exactly as stored, for posting bodies that must not be re-encoded."""
    return (HERE / f"{name}.json").read_bytes()


def _set(node: Any, path: list[str], value: Any) -> None:
    *parents, last = path
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
