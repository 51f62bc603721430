"""Every Bot API call the bot makes, watched once: one aiogram session middleware names the call (sendMessage,
sendChatAction, ...) and runs it inside each watcher's ``telegram_call(method)`` context, so the metrics count its
failures and the spans time it without each wrapping the session on its own."""

from __future__ import annotations

from contextlib import AbstractContextManager, ExitStack
from typing import TYPE_CHECKING, Protocol

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.methods import Response, TelegramMethod
    from aiogram.methods.base import TelegramType


class TelegramCallWatcher(Protocol):
    def telegram_call(self, method: str) -> AbstractContextManager[object]:
        """Entered before the call, left with its answer or with the exception it raised (which goes on up)."""
        ...


class TelegramCalls(BaseRequestMiddleware):
    """An aiogram session middleware (``bot.session.middleware(...)``); the first watcher is the outermost."""

    def __init__(self, *watchers: TelegramCallWatcher) -> None:
        self.watchers = watchers

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        name = str(
            getattr(method, "__api_method__", type(method).__name__)
        )  # the Bot API's name: sendMessage
        with ExitStack() as stack:
            for watcher in self.watchers:
                stack.enter_context(watcher.telegram_call(name))
            return await make_request(bot, method)
