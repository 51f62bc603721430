"""What the bot does with one update: commands, access control, a conversation turn through the gateway."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.enums import ChatAction, ParseMode
from aiogram.types import Update

from llmstack_bot.gateway import BudgetExhausted, GatewayClient, GatewayUnavailable
from llmstack_bot.repositories import HistoryRepository, RouteRepository, UsageRepository
from llmstack_bot.settings import Settings
from llmstack_bot.telegram import routes_keyboard, split_message

log = logging.getLogger("llmstack.bot")

HELP = (
    "Send me a message and I answer through the llm-stack gateway.\n"
    "/model: choose the model route\n/reset: forget this conversation\n/usage: your requests and cost today"
)
SORRY = "Sorry, I could not reach the model just now. Please try again in a minute."


@dataclass
class RateLimiter:
    per_minute: int
    _hits: dict[int, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def allow(self, user_id: int) -> bool:
        now = time.monotonic()
        hits = self._hits[user_id]
        while hits and now - hits[0] > 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return False
        hits.append(now)
        return True


@dataclass
class Handlers:
    settings: Settings
    bot: Bot
    gateway: GatewayClient
    history: HistoryRepository
    routes: RouteRepository
    usage: UsageRepository
    limiter: RateLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.settings.requests_per_minute)

    def today(self) -> str:
        return dt.datetime.now(ZoneInfo(self.settings.budget_timezone)).date().isoformat()

    async def send(self, chat_id: int, text: str, *, escaped: bool = False, **extra: Any) -> None:
        chunks = [text] if escaped else split_message(text)
        for chunk in chunks:
            await self.bot.send_message(chat_id, chunk, parse_mode=ParseMode.HTML, **extra)
            extra = {}

    async def handle(self, payload: dict[str, Any]) -> None:
        update = Update.model_validate(payload)
        if update.callback_query is not None:
            await self._callback(update)
            return
        message = update.message or update.edited_message
        if message is None or message.from_user is None or not message.text:
            return
        user_id, chat_id = message.from_user.id, message.chat.id
        if user_id not in self.settings.allowed_user_ids:  # an empty list lets nobody in
            await self.send(chat_id, "Sorry, this bot is private.")
            return
        if not self.limiter.allow(user_id):
            await self.send(
                chat_id, "You are sending messages faster than I can answer; please wait a minute."
            )
            return
        text = message.text.strip()
        if text.startswith("/"):
            await self._command(chat_id, user_id, text)
        else:
            await self._turn(chat_id, user_id, text)

    async def _command(self, chat_id: int, user_id: int, text: str) -> None:
        name, _, argument = text.partition(" ")
        name = name.split("@", 1)[0].lower()
        if name in ("/start", "/help"):
            await self.send(chat_id, HELP)
        elif name == "/reset":
            removed = await asyncio.to_thread(self.history.reset, chat_id)
            await self.send(chat_id, f"Conversation forgotten ({removed} messages).")
        elif name == "/model":
            current = await asyncio.to_thread(self.routes.get, chat_id, self.settings.default_route)
            choice = argument.strip()
            if not choice:
                await self.send(
                    chat_id,
                    f"Current route: {current}. Choose one:",
                    reply_markup=routes_keyboard(self.settings.routes, current),
                )
            elif choice in self.settings.routes:
                await asyncio.to_thread(self.routes.set, chat_id, choice)
                await self.send(chat_id, f"Route set to {choice}.")
            else:
                await self.send(
                    chat_id, f"Unknown route {choice!r}; choose one of: {', '.join(self.settings.routes)}"
                )
        elif name == "/usage":
            count, cost = await asyncio.to_thread(self.usage.today, user_id, self.today())
            await self.send(chat_id, f"Today: {count} request(s), ${cost:.6f}.")
        else:
            await self.send(chat_id, f"Unknown command {name}.\n{HELP}")

    async def _callback(self, update: Update) -> None:
        query = update.callback_query
        assert query is not None
        if query.from_user.id not in self.settings.allowed_user_ids:
            return
        data = query.data or ""
        chat_id = query.message.chat.id if query.message else query.from_user.id
        if data.startswith("route:") and data[6:] in self.settings.routes:
            await asyncio.to_thread(self.routes.set, chat_id, data[6:])
            await self.bot.answer_callback_query(query.id, text=f"Route set to {data[6:]}")
            await self.send(chat_id, f"Route set to {data[6:]}.")

    async def _turn(self, chat_id: int, user_id: int, text: str) -> None:
        await self.bot.send_chat_action(chat_id, ChatAction.TYPING)
        route = await asyncio.to_thread(self.routes.get, chat_id, self.settings.default_route)
        await asyncio.to_thread(self.history.append, chat_id, "user", text)
        messages = await asyncio.to_thread(self.history.recent, chat_id, self.settings.history_token_budget)
        try:
            answer = await self.gateway.complete(route, messages, user=str(user_id))
        except BudgetExhausted as exc:
            resets = str(exc).split("resets at", 1)[-1].strip() if "resets at" in str(exc) else "midnight"
            await self.send(chat_id, f"The daily budget is reached; it resets at {resets}.")
            return
        except GatewayUnavailable:
            log.exception("gateway unavailable")
            await self.send(chat_id, SORRY)
            return
        await asyncio.to_thread(self.history.append, chat_id, "assistant", answer.text)
        await asyncio.to_thread(self.usage.record, user_id, self.today(), answer.cost_usd)
        await self.send(chat_id, answer.text)

    async def forward_alert(self, alert: dict[str, Any]) -> bool:
        if self.settings.admin_chat_id is None:
            return False
        text = (
            f"<b>Budget alert</b> ({html.escape(str(alert.get('stack', '?')))}): "
            f"{float(alert.get('threshold', 0)):.0%} of ${float(alert.get('cap_usd', 0)):g} reached, "
            f"${float(alert.get('spent_usd', 0)):.4f} spent on {html.escape(str(alert.get('day', '?')))}; "
            f"resets at {html.escape(str(alert.get('resets_at', '?')))}."
        )
        if alert.get("refused"):
            text += (
                " A request was refused: what is spent and held by requests in flight leaves no room for it."
            )
        await self.send(self.settings.admin_chat_id, text, escaped=True)
        return True
