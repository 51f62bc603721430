"""Telegram through aiogram: Bot API calls on a configurable base URL, and message formatting."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

from llmstack_bot.message_split import MESSAGE_LIMIT, split_html, split_message

__all__ = ["COMMANDS", "MESSAGE_LIMIT", "make_bot", "routes_keyboard", "split_html", "split_message"]
COMMANDS = [
    BotCommand(command="start", description="Start talking to the assistant"),
    BotCommand(command="help", description="What this bot can do"),
    BotCommand(command="reset", description="Forget this conversation"),
    BotCommand(command="model", description="Choose the model route"),
    BotCommand(command="usage", description="Your requests and cost today"),
]


def make_bot(token: str, api_base: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/"))))


def routes_keyboard(routes: list[str], current: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=("• " if r == current else "") + r, callback_data=f"route:{r}")]
            for r in routes
        ]
    )
