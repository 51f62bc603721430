"""Messages the bot cannot read (documents, stickers, voice, video, locations, ...) get a short reply saying
what it understands, instead of silence. Service messages (members joining, a pinned message) get nothing."""

from __future__ import annotations

from aiogram import Router
from aiogram.enums import ContentType
from aiogram.types import Message

from llmstack_bot.delivery import Replies

#: what a person sends that the bot does not read (aiogram's ContentType names the Bot API's message fields)
UNREADABLE = {
    ContentType.DOCUMENT,
    ContentType.STICKER,
    ContentType.VOICE,
    ContentType.AUDIO,
    ContentType.VIDEO,
    ContentType.VIDEO_NOTE,
    ContentType.ANIMATION,
    ContentType.LOCATION,
    ContentType.VENUE,
    ContentType.CONTACT,
    ContentType.POLL,
    ContentType.DICE,
    ContentType.STORY,
}
UNDERSTANDS = (
    "I understand text messages and photos (with or without a caption); I cannot read this kind of message."
)


async def unreadable(message: Message, replies: Replies) -> None:
    if message.content_type in UNREADABLE:
        await replies.send(message.chat.id, UNDERSTANDS)


def make_router() -> Router:
    router = Router(name="attachments")
    router.message.register(unreadable)
    return router
