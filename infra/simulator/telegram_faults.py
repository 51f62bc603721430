"""Faults the Telegram stand-in can be told to produce, each shaped like Telegram's own error answers.

Every error body is ``{"ok": false, "error_code": N, "description": "..."}`` plus, for flood control,
``"parameters": {"retry_after": N}`` (Bot API docs, "Making requests" and ResponseParameters). aiogram maps
them in ``aiogram/client/session/base.py`` ``check_response``: ``parameters.retry_after`` ->
``TelegramRetryAfter`` (whatever the status), 400 -> ``TelegramBadRequest``, 403 -> ``TelegramForbiddenError``,
404 -> ``TelegramNotFound``, 5xx -> ``TelegramServerError``.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

#: The 403 descriptions Telegram sends when a chat cannot be written to (as aiogram's and python-telegram-bot's
#: users report them verbatim, e.g. aiogram issues on TelegramForbiddenError).
BLOCK_REASONS = {
    "blocked": "Forbidden: bot was blocked by the user",
    "deactivated": "Forbidden: user is deactivated",
    "kicked": "Forbidden: bot was kicked from the group chat",
    "kicked_supergroup": "Forbidden: bot was kicked from the supergroup chat",
    "not_started": "Forbidden: bot can't initiate conversation with a user",
}
BlockReason = Literal["blocked", "deactivated", "kicked", "kicked_supergroup", "not_started"]

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def error_body(status: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    """A Bot API error answer: ``ok`` false, ``error_code``, ``description``, optional ``parameters``."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return body


@dataclass
class Fault:
    """Fail calls of one method (optionally only for one chat): let ``after`` through, then fail ``times``."""

    method: str
    status: int
    description: str
    retry_after: int | None
    after: int
    times: int | None
    chat_id: int | None
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, chat_id: int | None) -> bool:
        return method == self.method and (self.chat_id is None or self.chat_id == chat_id)

    def take(self) -> bool:
        """Count one matching call; True when this call is to fail."""
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True


@dataclass
class FaultPlan:
    """The stand-in's programmed faults; thread-safe, since the stand-in answers each request in a thread."""

    faults: list[Fault] = field(default_factory=list)
    blocked: dict[int, str] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    #: flood control in force: (method, chat or None) -> monotonic time it ends
    floods: dict[tuple[str, int | None], float] = field(default_factory=dict)
    #: calls that came back while flood control was in force, i.e. before ``retry_after`` had passed
    early_retries: list[tuple[str, int | None, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def block(self, chat_id: int, reason: BlockReason) -> None:
        with self._lock:
            self.blocked[chat_id] = BLOCK_REASONS[reason]

    def unblock(self, chat_id: int) -> None:
        with self._lock:
            self.blocked.pop(chat_id, None)

    def delay(self, method: str, seconds: float) -> None:
        with self._lock:
            self.delays[method.lower()] = seconds

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.blocked.clear()
            self.delays.clear()
            self.floods.clear()

    def delay_for(self, method: str) -> float:
        with self._lock:
            return self.delays.get(method.lower(), 0.0)

    def decide(self, method: str, chat_id: int | None) -> tuple[int, dict[str, Any]] | None:
        """The error answer for this call, or None to let it through ("All methods in the Bot API are
        case-insensitive": compared lowercased)."""
        method = method.lower()
        with self._lock:
            now = time.monotonic()
            for key in ((method, chat_id), (method, None)):
                ends = self.floods.get(key)
                if ends is not None and now < ends:
                    # retry_after: "the number of seconds left to wait before the request can be repeated";
                    # repeating it sooner meets flood control again, with the seconds still left
                    left = max(1, math.ceil(ends - now))
                    self.early_retries.append((method, chat_id, ends - now))
                    return 429, error_body(429, f"Too Many Requests: retry after {left}", left)
            if chat_id is not None and chat_id in self.blocked and method != "getChat":
                return 403, error_body(403, self.blocked[chat_id])
            for fault in self.faults:
                if fault.matches(method, chat_id) and fault.take():
                    if fault.retry_after is not None:
                        self.floods[(method, fault.chat_id)] = now + fault.retry_after
                    return fault.status, error_body(fault.status, fault.description, fault.retry_after)
        return None


def make_fault(
    method: str,
    status: int,
    *,
    retry_after: int | None,
    times: int | None,
    after: int,
    chat_id: int | None,
    description: str | None,
) -> Fault:
    """A Fault with Telegram's description for its status unless one is given."""
    if status == 429:
        retry_after = 1 if retry_after is None else retry_after
        description = description or f"Too Many Requests: retry after {retry_after}"
    elif description is None:
        description = _DEFAULT_DESCRIPTIONS.get(status, "Internal Server Error")
    return Fault(method.lower(), status, description, retry_after, after, times, chat_id)
