"""Storage operations, one repository per table; every method is one short transaction."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from llmstack_bot.models import (
    ChatRoute,
    ChatState,
    HistoryMessage,
    InboxUpdate,
    StrangerNotice,
    UsageRecord,
    utcnow,
)


def estimate_tokens(text: str) -> int:
    return len(text) // 4 + 4


#: statuses of updates still to be processed
OPEN = ("pending", "processing")
#: Postgres advisory lock serialising claimers across processes (choosing a chat's head is read-then-write)
CLAIM_LOCK_KEY = 0x11B0_7C1A


@dataclass(frozen=True)
class ClaimedUpdate:
    update_id: int
    user_id: int | None
    chat_id: int | None
    payload: dict[str, Any]
    attempts: int

    @property
    def chat_key(self) -> int:
        """What is served one at a time: the chat (else the user, else the update alone)."""
        return _chat_key(self.chat_id, self.user_id, self.update_id)


def _chat_key(chat_id: int | None, user_id: int | None, update_id: int) -> int:
    if chat_id is not None:
        return chat_id
    return user_id if user_id is not None else -update_id


class InboxRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        # SQLite has no SELECT ... FOR UPDATE; one claimer at a time in this process instead
        self._claim_lock = threading.Lock()

    def accept(
        self, update_id: int, user_id: int | None, chat_id: int | None, payload: dict[str, Any]
    ) -> bool:
        """Store a delivered update; False when it was delivered before (Telegram retries)."""
        return self._insert(update_id, user_id, chat_id, payload, "pending", None)

    def reject(self, update_id: int, payload: dict[str, Any], reason: str) -> bool:
        """Keep an update that can never be processed, for audit; False when it was recorded before."""
        return self._insert(update_id, None, None, payload, "rejected", reason[:500])

    def _insert(
        self,
        update_id: int,
        user_id: int | None,
        chat_id: int | None,
        payload: dict[str, Any],
        status: str,
        error: str | None,
    ) -> bool:
        try:
            with self._sessions.begin() as session:
                session.add(
                    InboxUpdate(
                        update_id=update_id,
                        user_id=user_id,
                        chat_id=chat_id,
                        payload=json.dumps(payload),
                        status=status,
                        attempts=0,
                        received_at=utcnow(),
                        error=error,
                    )
                )
        except IntegrityError:
            return False
        return True

    def claim(
        self, limit: int, lease_s: float, owner: str, busy: frozenset[int] = frozenset()
    ) -> list[ClaimedUpdate]:
        """Lease the oldest open update of up to ``limit`` chats, skipping chats with one in flight.

        A chat's head (its oldest open update) is claimable when pending, or when its lease expired (a crashed
        process's, or a retry's delay). A chat whose head is leased waits: one turn at a time per chat.
        """
        if limit <= 0:
            return []
        now = utcnow()
        key = func.coalesce(InboxUpdate.chat_id, InboxUpdate.user_id, -InboxUpdate.update_id)
        heads = select(func.min(InboxUpdate.update_id)).where(InboxUpdate.status.in_(OPEN)).group_by(key)
        with self._claim_lock, self._sessions.begin() as session:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})
            rows = session.scalars(
                select(InboxUpdate)
                .where(
                    InboxUpdate.update_id.in_(heads),
                    or_(
                        InboxUpdate.status == "pending",
                        and_(InboxUpdate.status == "processing", InboxUpdate.lease_until < now),
                    ),
                )
                .order_by(InboxUpdate.update_id)
                .limit(limit + len(busy))
            )
            claimed: list[ClaimedUpdate] = []
            for row in rows:
                if _chat_key(row.chat_id, row.user_id, row.update_id) in busy or len(claimed) >= limit:
                    continue
                row.status = "processing"
                row.attempts += 1
                row.lease_until = now + dt.timedelta(seconds=lease_s)
                row.lease_owner = owner
                claimed.append(
                    ClaimedUpdate(
                        row.update_id, row.user_id, row.chat_id, json.loads(row.payload), row.attempts
                    )
                )
            return claimed

    def renew(self, update_ids: list[int], lease_s: float, owner: str) -> int:
        """Extend this owner's leases; returns how many it still held."""
        if not update_ids:
            return 0
        with self._sessions.begin() as session:
            result = session.execute(
                update(InboxUpdate)
                .where(
                    InboxUpdate.update_id.in_(update_ids),
                    InboxUpdate.status == "processing",
                    InboxUpdate.lease_owner == owner,
                )
                .values(lease_until=utcnow() + dt.timedelta(seconds=lease_s))
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def finish(self, update_id: int, owner: str, status: str = "done", error: str | None = None) -> bool:
        """Record how ``owner``'s turn ended; False when its lease had passed to another process meanwhile.

        Only the lease holder writes the outcome: a process whose lease expired mid-turn (a renewal that failed)
        must not mark done, or release, an update another process has claimed and is answering.
        """
        return self._settle(update_id, owner, status=status, done_at=utcnow(), lease_owner=None, error=error)

    def release(self, update_id: int, owner: str, delay_s: float, error: str | None = None) -> bool:
        """Claimable again after ``delay_s`` (a retry after a transient failure); False as ``finish``."""
        return self._settle(
            update_id,
            owner,
            status="processing",
            lease_until=utcnow() + dt.timedelta(seconds=delay_s),
            lease_owner=None,
            error=error,
        )

    def _settle(self, update_id: int, owner: str, **values: Any) -> bool:
        with self._sessions.begin() as session:
            result = session.execute(
                update(InboxUpdate)
                .where(
                    InboxUpdate.update_id == update_id,
                    InboxUpdate.status == "processing",
                    InboxUpdate.lease_owner == owner,
                )
                .values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def hand_back(self, update_ids: list[int], owner: str) -> None:
        """Shutting down: claimable at once by the next process, and the attempt does not count."""
        if not update_ids:
            return
        with self._sessions.begin() as session:
            session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.update_id.in_(update_ids), InboxUpdate.lease_owner == owner)
                .values(
                    status="pending",
                    lease_until=None,
                    lease_owner=None,
                    # claimed attempts >= 1, so this stays >= 0
                    attempts=InboxUpdate.attempts - 1,
                )
            )

    def counts(self) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(select(InboxUpdate.status, func.count()).group_by(InboxUpdate.status))
            return {str(status): int(count) for status, count in rows}

    def get(self, update_id: int) -> dict[str, Any] | None:
        """One update's inbox row (status, attempts, error), for audits and tests."""
        with self._sessions() as session:
            row = session.get(InboxUpdate, update_id)
            if row is None:
                return None
            return {"status": row.status, "attempts": row.attempts, "error": row.error}


class HistoryRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def append(self, chat_id: int, role: str, content: str) -> None:
        with self._sessions.begin() as session:
            session.add(
                HistoryMessage(chat_id=chat_id, role=role, content=content, tokens=estimate_tokens(content))
            )

    def recent(self, chat_id: int, token_budget: int) -> list[dict[str, str]]:
        """The newest messages that fit the token budget, oldest first (what the gateway is sent)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(HistoryMessage)
                .where(HistoryMessage.chat_id == chat_id)
                .order_by(HistoryMessage.id.desc())
                .limit(200)
            )
            kept: list[HistoryMessage] = []
            used = 0
            for row in rows:
                if used + row.tokens > token_budget and kept:
                    break
                kept.append(row)
                used += row.tokens
            return [{"role": m.role, "content": m.content} for m in reversed(kept)]

    def reset(self, chat_id: int) -> int:
        with self._sessions.begin() as session:
            result = session.execute(delete(HistoryMessage).where(HistoryMessage.chat_id == chat_id))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


class RouteRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def get(self, chat_id: int, default: str) -> str:
        with self._sessions() as session:
            row = session.get(ChatRoute, chat_id)
            return row.route if row else default

    def set(self, chat_id: int, route: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(ChatRoute, chat_id)
            if row is None:
                session.add(ChatRoute(chat_id=chat_id, route=route))
            else:
                row.route = route


class UsageRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(self, user_id: int, day: str, cost_usd: float) -> None:
        with self._sessions.begin() as session:
            session.add(UsageRecord(user_id=user_id, day=day, cost_usd=cost_usd))

    def today(self, user_id: int, day: str) -> tuple[int, float]:
        with self._sessions() as session:
            count, cost = session.execute(
                select(func.count(), func.coalesce(func.sum(UsageRecord.cost_usd), 0.0)).where(
                    UsageRecord.user_id == user_id, UsageRecord.day == day
                )
            ).one()
            return int(count), float(cost)


class ChatRepository:
    """Whether the bot can write to a chat (403s), and strangers' notices, at most one per chat per day."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def mark_unreachable(self, chat_id: int, reason: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(ChatState, chat_id)
            if row is None:
                session.add(ChatState(chat_id=chat_id, unreachable_since=utcnow(), reason=reason[:200]))
            else:
                row.unreachable_since, row.reason = utcnow(), reason[:200]

    def mark_reachable(self, chat_id: int) -> None:
        """The chat wrote to the bot: it can be answered again (unblocked, re-added)."""
        with self._sessions.begin() as session:
            row = session.get(ChatState, chat_id)
            if row is not None and row.unreachable_since is not None:
                row.unreachable_since, row.reason = None, None

    def unreachable(self, chat_id: int) -> str | None:
        with self._sessions() as session:
            row = session.get(ChatState, chat_id)
            return row.reason if row is not None and row.unreachable_since is not None else None

    def notice_due(self, chat_id: int, day: str, update_id: int) -> bool:
        """True for one update per chat and day (and for retries of that update): only it sends the notice."""
        try:
            with self._sessions.begin() as session:
                session.add(StrangerNotice(chat_id=chat_id, day=day, update_id=update_id))
        except IntegrityError:
            with self._sessions() as session:
                row = session.get(StrangerNotice, (chat_id, day))
                return row is not None and row.update_id == update_id
        return True
