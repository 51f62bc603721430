"""The bot's aiogram Dispatcher: one Router per feature, in the order they are tried, under the middlewares."""

from __future__ import annotations

from aiogram import Dispatcher

from llmstack_bot.context import BotContext
from llmstack_bot.middlewares import AccessMiddleware, ContextMiddleware
from llmstack_bot.routers import attachments, buttons, commands, membership, questions, spend


def build_dispatcher(ctx: BotContext) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(ContextMiddleware(ctx))
    dispatcher.message.outer_middleware(AccessMiddleware())
    dispatcher.callback_query.outer_middleware(AccessMiddleware())
    dispatcher.include_routers(
        spend.make_router(),
        commands.make_router(),
        buttons.make_router(),
        questions.make_router(),
        attachments.make_router(),
        membership.make_router(),
    )
    return dispatcher
