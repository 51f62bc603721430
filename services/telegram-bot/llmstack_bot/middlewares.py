"""aiogram middlewares: context and per-update replies (injection), access, and the per-user question limit.

- ``ContextMiddleware`` (outer, on every update): injects ``ctx`` (repositories, gateway, settings) and
  ``replies`` (this update's journaled sender, which knows what an earlier try already delivered).
- ``AccessMiddleware`` (outer, on messages and button presses): drops group messages not addressed to the bot and
  other bots' commands; a stranger gets "this bot is private" at most once per chat per day; a stranger's button
  press is answered (the spinner stops) and nothing else happens.
- ``QuestionLimitMiddleware`` (inner, on the questions router only, so commands do not count): more than
  ``requests_per_minute`` questions in a minute are answered with when to ask again, never dropped silently.
  Counted from the turn journal, so it holds across restarts and a retried update is not counted twice.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject, Update

from llmstack_bot.addressing import GROUP_TYPES, is_addressed
from llmstack_bot.context import BotContext
from llmstack_bot.delivery import Replies

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
PRIVATE = "Sorry, this bot is private."


class ContextMiddleware(BaseMiddleware):
    def __init__(self, ctx: BotContext) -> None:
        self._ctx = ctx

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        ctx = self._ctx
        already = await ctx.db.run(ctx.deliveries.delivered, event.update_id)
        data["ctx"] = ctx
        data["replies"] = Replies(
            data["bot"],
            ctx.db,
            ctx.deliveries,
            ctx.chats,
            event.update_id,
            already,
            max_retry_after_s=ctx.settings.telegram_max_retry_after_s,
        )
        return await handler(event, data)


class AccessMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        ctx: BotContext = data["ctx"]
        replies: Replies = data["replies"]
        allowed = ctx.settings.allowed_user_ids  # an empty list lets nobody in
        if isinstance(event, CallbackQuery):
            if event.from_user.id not in allowed:
                await replies.answer_callback(event.id, PRIVATE)
                return None
            return await handler(event, data)
        assert isinstance(event, Message)
        if event.from_user is None or event.from_user.is_bot or not is_addressed(event, ctx.identity):
            return None
        chat_id = event.chat.id
        if event.from_user.id not in allowed:
            if await ctx.db.run(ctx.chats.notice_due, chat_id, ctx.today(), replies.update_id):
                await replies.send(chat_id, PRIVATE)
            return None
        # the chat wrote to the bot: it can be written to again (it was unblocked, or the bot re-added)
        await ctx.db.run(ctx.chats.mark_reachable, chat_id)
        return await handler(event, data)


class QuestionLimitMiddleware(BaseMiddleware):
    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        ctx: BotContext = data["ctx"]
        replies: Replies = data["replies"]
        assert isinstance(event, Message) and event.from_user is not None
        limit = ctx.settings.requests_per_minute
        now = dt.datetime.now(dt.UTC)
        if await ctx.db.run(ctx.journal.exists, replies.update_id):
            return await handler(event, data)  # admitted on an earlier try of this update
        asked = await ctx.db.run(
            ctx.journal.asked_since,
            event.from_user.id,
            now - dt.timedelta(minutes=1),
            replies.update_id,
        )
        if len(asked) < limit:
            return await handler(event, data)
        oldest = asked[-limit]
        if oldest.tzinfo is None:  # SQLite returns naive datetimes; they were written as UTC
            oldest = oldest.replace(tzinfo=dt.UTC)
        wait_s = max(1, math.ceil((oldest + dt.timedelta(minutes=1) - now).total_seconds()))
        who = "" if event.chat.type not in GROUP_TYPES else f"{event.from_user.first_name}, "
        await replies.send(
            event.chat.id,
            f"{who}you have asked {len(asked)} questions in the last minute (the limit is {limit}). "
            f"Please ask again in {wait_s} s; this one was not sent to the model.",
        )
        return None
