"""Telegram through aiogram: Bot API calls on a configurable base URL, and message formatting."""

from __future__ import annotations

import html

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup

MESSAGE_LIMIT = 4096
COMMANDS = [
    BotCommand(command="start", description="Start talking to the assistant"),
    BotCommand(command="help", description="What this bot can do"),
    BotCommand(command="reset", description="Forget this conversation"),
    BotCommand(command="model", description="Choose the model route"),
    BotCommand(command="usage", description="Your requests and cost today"),
]


def make_bot(token: str, api_base: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(api_base.rstrip("/"))))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Model output as HTML-escaped chunks of at most ``limit`` characters, cut at newlines when possible.

    Escaping happens per chunk, so no chunk ends inside an entity and model output cannot open a tag.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True) or [""]:
        for char in line:
            escaped = html.escape(char, quote=False)
            if size + len(escaped) > limit:
                chunks.append("".join(current))
                current, size = [], 0
            current.append(escaped)
            size += len(escaped)
        # prefer to cut at a line end when the next line would not fit
        if size > limit * 0.8:
            chunks.append("".join(current))
            current, size = [], 0
    if current or not chunks:
        chunks.append("".join(current))
    return [c for c in chunks if c.strip()] or ["(empty answer)"]


def routes_keyboard(routes: list[str], current: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=("• " if r == current else "") + r, callback_data=f"route:{r}")]
            for r in routes
        ]
    )
