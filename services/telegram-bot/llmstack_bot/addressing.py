"""Whether a message in a group is for this bot: Telegram delivers every message of a group to a bot whose
privacy mode is off, and commands of every bot to all of them.

Rules (Bot API "Privacy mode" and "Commands": ``/command@botname`` addresses one bot; a bare ``/command`` in a
group is for any bot that has it): in private chats everything is for the bot; in groups and supergroups only a
command for it (or for no bot in particular), a message that mentions it (``@username``, or a ``text_mention``
of its user id), or a reply to one of its messages.
"""

from __future__ import annotations

import re

from aiogram.types import Message, MessageEntity

from llmstack_bot.context import BotIdentity

GROUP_TYPES = ("group", "supergroup")


def command_target(text: str) -> str | None:
    """``help@SomeBot`` -> ``SomeBot``; None for a command without a target or for text that is no command."""
    if not text.startswith("/"):
        return None
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    _, at, target = head.partition("@")
    return target if at and target else None


def for_another_bot(text: str, me: BotIdentity) -> bool:
    target = command_target(text)
    return target is not None and target.lower() != me.username.lower()


def _entities(message: Message) -> tuple[str, list[MessageEntity]]:
    if message.text is not None:
        return message.text, list(message.entities or [])
    return message.caption or "", list(message.caption_entities or [])


def mentions(message: Message, me: BotIdentity) -> bool:
    text, entities = _entities(message)
    for entity in entities:
        # offsets are UTF-16 code units: aiogram's extract_from converts them
        if (
            entity.type == "mention"
            and me.username
            and entity.extract_from(text).lower() == f"@{me.username.lower()}"
        ):
            return True
        if entity.type == "text_mention" and entity.user is not None and entity.user.id == me.id:
            return True
    return False


def is_addressed(message: Message, me: BotIdentity) -> bool:
    text, _ = _entities(message)
    if for_another_bot(text, me):
        return False
    if message.chat.type not in GROUP_TYPES:
        return True
    if text.startswith("/"):
        return True  # for this bot by name, or for no bot in particular
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == me.id:
        return True
    return mentions(message, me)


def without_mention(text: str, me: BotIdentity) -> str:
    """The question without the bot's own @username (the model need not see how it was called)."""
    if not me.username:
        return text
    cleaned = re.sub(rf"@{re.escape(me.username)}\b", " ", text, flags=re.IGNORECASE)
    return " ".join(cleaned.split()) if cleaned != text else text
