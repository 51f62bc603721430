"""``my_chat_member``: Telegram tells the bot when a user blocks it (status ``kicked`` in a private chat) or a
group removes it (``kicked``/``left``), and when it is back (``member``, ``administrator``). The chat is marked
unreachable or reachable before any answer would fail with 403. Delivered only when ``ALLOWED_UPDATES`` lists
``my_chat_member`` (Bot API: setWebhook ``allowed_updates``)."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import ChatMemberUpdated

from llmstack_bot.context import BotContext

GONE = {"kicked", "left"}


async def membership(event: ChatMemberUpdated, ctx: BotContext) -> None:
    status = event.new_chat_member.status
    if status in GONE:
        await ctx.db.run(ctx.chats.mark_unreachable, event.chat.id, f"my_chat_member: the bot was {status}")
    else:
        await ctx.db.run(ctx.chats.mark_reachable, event.chat.id)


def make_router() -> Router:
    router = Router(name="membership")
    router.my_chat_member.register(membership)
    return router
