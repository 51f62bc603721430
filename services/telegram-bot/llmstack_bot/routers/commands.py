"""Commands: /start, /help, /reset, /model, /usage, and a reply for any other command.

The access middleware already dropped commands for other bots, so the filters ignore the @mention here."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import Message

from llmstack_bot.context import BotContext
from llmstack_bot.delivery import Replies
from llmstack_bot.telegram import routes_keyboard

HELP = (
    "Send me a message (or a photo) and I answer through the llm-stack gateway.\n"
    "/model: choose the model route\n/reset: forget this conversation\n/usage: your requests and cost today"
)


async def help_(message: Message, replies: Replies) -> None:
    await replies.send(message.chat.id, HELP)


async def reset(message: Message, ctx: BotContext, replies: Replies) -> None:
    removed = await ctx.db.run(ctx.history.reset, message.chat.id)
    await replies.send(message.chat.id, f"Conversation forgotten ({removed} messages).")


async def model(message: Message, command: CommandObject, ctx: BotContext, replies: Replies) -> None:
    chat_id, routes = message.chat.id, ctx.settings.routes
    choice = (command.args or "").strip()
    if not choice:
        current = await ctx.db.run(ctx.routes.get, chat_id, ctx.settings.default_route)
        await replies.send(
            chat_id, f"Current route: {current}. Choose one:", reply_markup=routes_keyboard(routes, current)
        )
    elif choice in routes:
        await ctx.db.run(ctx.routes.set, chat_id, choice)
        await replies.send(chat_id, f"Route set to {choice}.")
    else:
        await replies.send(chat_id, f"Unknown route {choice!r}; choose one of: {', '.join(routes)}")


async def usage(message: Message, ctx: BotContext, replies: Replies) -> None:
    assert message.from_user is not None
    count, cost = await ctx.db.run(ctx.usage.today, message.from_user.id, ctx.today())
    await replies.send(message.chat.id, f"Today: {count} request(s), ${cost:.6f}.")


async def unknown(message: Message, replies: Replies) -> None:
    name = (message.text or "/").split(maxsplit=1)[0].split("@", 1)[0]
    await replies.send(message.chat.id, f"Unknown command {name}.\n{HELP}")


def make_router() -> Router:
    """A new Router each time: aiogram attaches a router to one parent only, and each app has its own."""
    router = Router(name="commands")
    router.message.register(help_, CommandStart(ignore_mention=True))
    router.message.register(help_, Command("help", ignore_mention=True))
    router.message.register(reset, Command("reset", ignore_mention=True))
    router.message.register(model, Command("model", ignore_mention=True))
    router.message.register(usage, Command("usage", ignore_mention=True))
    router.message.register(unknown, F.text.startswith("/"))
    return router
