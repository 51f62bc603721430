"""What every handler may use: settings, the database and its repositories, the gateway, the bot's identity.

One object, injected into aiogram's handlers by ``middlewares.ContextMiddleware`` (as aiogram 3 templates inject
their repositories), so handlers name what they need and tests build it from real parts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from llmstack_bot.db import Database
from llmstack_bot.gateway import GatewayClient
from llmstack_bot.journal import DeliveryLog, TurnJournal
from llmstack_bot.repositories import (
    ChatRepository,
    HistoryRepository,
    InboxRepository,
    RouteRepository,
    UsageRepository,
)
from llmstack_bot.settings import Settings


@dataclass
class BotIdentity:
    """Who the bot is in chats: its id (the token's first part) and @username (getMe, or the setting)."""

    id: int
    username: str = ""


@dataclass
class BotContext:
    settings: Settings
    db: Database
    gateway: GatewayClient
    identity: BotIdentity
    inbox: InboxRepository = field(init=False)
    history: HistoryRepository = field(init=False)
    routes: RouteRepository = field(init=False)
    usage: UsageRepository = field(init=False)
    chats: ChatRepository = field(init=False)
    journal: TurnJournal = field(init=False)
    deliveries: DeliveryLog = field(init=False)

    def __post_init__(self) -> None:
        sessions = self.db.sessions
        self.inbox = InboxRepository(sessions)
        self.history = HistoryRepository(sessions)
        self.routes = RouteRepository(sessions)
        self.usage = UsageRepository(sessions)
        self.chats = ChatRepository(sessions)
        self.journal = TurnJournal(sessions)
        self.deliveries = DeliveryLog(sessions)

    def today(self) -> str:
        """The budget's day (its timezone), for usage and strangers' notices."""
        return self.now().date().isoformat()

    def now(self) -> dt.datetime:
        return dt.datetime.now(ZoneInfo(self.settings.budget_timezone))
