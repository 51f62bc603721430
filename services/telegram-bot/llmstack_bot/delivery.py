"""Messages sent for one update, each at most once per try and never again once Telegram accepted it.

Telegram's sendMessage has no idempotency key, so the guarantee is: every message sent while handling an update
gets a sequence number, and is recorded (``deliveries``) right after Telegram answers ok. A retry of the update,
in this process or the next, skips the numbers already recorded. A crash between Telegram's acceptance and that
record (one database write) sends that one message again: at-least-once for a single part, never the whole
answer again.

Telegram's errors (aiogram's exceptions, mapped in ``aiogram/client/session/base.py`` ``check_response``):
- 429 ``TelegramRetryAfter``: wait ``retry_after`` and send the same part again (only it: the parts before are
  recorded); a wait longer than ``max_retry_after_s`` hands the update back instead (``RetryLater``).
- 403 ``TelegramForbiddenError`` (blocked, kicked, deactivated): the chat is marked unreachable and nothing more
  is sent (``ChatUnreachable``); the chat becomes reachable again when it writes to the bot.
- anything else propagates: the worker retries the update with bounded backoff, resuming at the failed part.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.enums import ChatAction, ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramRetryAfter

from llmstack_bot.db import Database
from llmstack_bot.journal import DeliveryLog
from llmstack_bot.repositories import ChatRepository
from llmstack_bot.telegram import split_message

log = logging.getLogger("llmstack.delivery")
#: flood-control answers for one part before the update is handed back to the inbox
MAX_FLOOD_WAITS = 5


class ChatUnreachable(Exception):  # noqa: N818 (a state of the chat, not a bug)
    """Telegram answered 403 for this chat: stop, the update is done."""


class RetryLater(Exception):  # noqa: N818
    """Telegram asked for a pause longer than is worth holding a worker: retry the update after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"Telegram asked to wait {delay_s:g} s")
        self.delay_s = delay_s


class Replies:
    def __init__(
        self,
        bot: Bot,
        db: Database,
        deliveries: DeliveryLog,
        chats: ChatRepository,
        update_id: int,
        already: set[int],
        *,
        max_retry_after_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._bot, self._db, self._deliveries, self._chats = bot, db, deliveries, chats
        self.update_id = update_id
        self._already = set(already)
        self._next = 0
        self._max_retry_after_s = max_retry_after_s
        self._sleep = sleep
        #: how many messages this try sent (skipped ones not counted)
        self.sent = 0

    async def send(self, chat_id: int, text: str, *, escaped: bool = False, **extra: Any) -> None:
        """Plain text (split at Telegram's limit and HTML-escaped), or ``escaped`` HTML sent as it is."""
        parts = [text] if escaped else split_message(text)
        for index, part in enumerate(parts):
            await self._send_part(chat_id, part, extra if index == 0 else {})

    async def _send_part(self, chat_id: int, text: str, extra: dict[str, Any]) -> None:
        seq = self._next
        self._next += 1
        if seq in self._already:
            return
        for _ in range(MAX_FLOOD_WAITS):
            try:
                message = await self._bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, **extra)
            except TelegramRetryAfter as exc:
                if exc.retry_after > self._max_retry_after_s:
                    raise RetryLater(exc.retry_after) from exc
                log.info(
                    "update %s part %s: flood control, waiting %s s", self.update_id, seq, exc.retry_after
                )
                await self._sleep(exc.retry_after)
                continue
            except TelegramForbiddenError as exc:
                await self._unreachable(chat_id, exc)
            # the window where a crash repeats this part: Telegram accepted it, the record is not written yet
            await self._db.run(self._deliveries.record, self.update_id, seq, message.message_id)
            self._already.add(seq)
            self.sent += 1
            return
        raise RetryLater(self._max_retry_after_s)

    async def typing(self, chat_id: int) -> None:
        """The typing indicator while the model works: cosmetic, except that a 403 means stop."""
        try:
            await self._bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramForbiddenError as exc:
            await self._unreachable(chat_id, exc)
        except TelegramAPIError as exc:
            log.info("sendChatAction failed for update %s: %s", self.update_id, exc)

    async def answer_callback(self, query_id: str, text: str | None = None) -> None:
        """Stop the button's spinner. Answering twice, or too late, is harmless: Telegram says "query is too
        old" and the user saw the spinner stop anyway."""
        try:
            await self._bot.answer_callback_query(query_id, text=text)
        except TelegramRetryAfter:
            raise
        except TelegramAPIError as exc:
            log.info("answerCallbackQuery failed for update %s: %s", self.update_id, exc)

    async def _unreachable(self, chat_id: int, exc: TelegramForbiddenError) -> None:
        await self._db.run(self._chats.mark_unreachable, chat_id, exc.message)
        raise ChatUnreachable(f"chat {chat_id}: {exc.message}") from exc
