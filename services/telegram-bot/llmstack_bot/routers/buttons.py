"""Inline buttons: every press is answered (Telegram shows a spinner until then), known or not."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery

from llmstack_bot.context import BotContext
from llmstack_bot.delivery import Replies


class RouteChoice(CallbackData, prefix="route"):
    """``route:<name>``: a button of the /model keyboard."""

    route: str


async def choose_route(
    query: CallbackQuery, callback_data: RouteChoice, ctx: BotContext, replies: Replies
) -> None:
    chat_id = query.message.chat.id if query.message is not None else query.from_user.id
    if callback_data.route not in ctx.settings.routes:
        await replies.answer_callback(
            query.id, f"{callback_data.route} is no longer a route; send /model again"
        )
        return
    await ctx.db.run(ctx.routes.set, chat_id, callback_data.route)
    await replies.answer_callback(query.id, f"Route set to {callback_data.route}")
    await replies.send(chat_id, f"Route set to {callback_data.route}.")


async def unknown_button(query: CallbackQuery, replies: Replies) -> None:
    await replies.answer_callback(query.id, "This button is no longer valid; send /model again")


def make_router() -> Router:
    router = Router(name="buttons")
    router.callback_query.register(choose_route, RouteChoice.filter())
    router.callback_query.register(unknown_button)
    return router
