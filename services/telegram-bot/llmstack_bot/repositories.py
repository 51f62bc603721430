"""Storage operations, one repository per table; every method is one short transaction."""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from llmstack_bot.models import ChatRoute, HistoryMessage, InboxUpdate, UsageRecord, utcnow


def estimate_tokens(text: str) -> int:
    return len(text) // 4 + 4


@dataclass(frozen=True)
class ClaimedUpdate:
    update_id: int
    user_id: int | None
    payload: dict[str, Any]
    attempts: int


class InboxRepository:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        # SQLite has no SELECT ... FOR UPDATE SKIP LOCKED; one claimer at a time in this process instead
        self._claim_lock = threading.Lock()

    def accept(
        self, update_id: int, user_id: int | None, chat_id: int | None, payload: dict[str, Any]
    ) -> bool:
        """Store a delivered update; False when it was delivered before (Telegram retries)."""
        try:
            with self._sessions.begin() as session:
                session.add(
                    InboxUpdate(
                        update_id=update_id,
                        user_id=user_id,
                        chat_id=chat_id,
                        payload=json.dumps(payload),
                        status="pending",
                        attempts=0,
                        received_at=utcnow(),
                    )
                )
        except IntegrityError:
            return False
        return True

    def claim(self, limit: int, lease_s: float) -> list[ClaimedUpdate]:
        """Lease pending updates (and ones whose lease expired: a crashed worker's) in arrival order."""
        now = utcnow()
        with self._claim_lock, self._sessions.begin() as session:
            query = (
                select(InboxUpdate)
                .where(
                    or_(
                        InboxUpdate.status == "pending",
                        (InboxUpdate.status == "processing") & (InboxUpdate.lease_until < now),
                    )
                )
                .order_by(InboxUpdate.update_id)
                .limit(limit)
            )
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = list(session.scalars(query))
            claimed = []
            for row in rows:
                row.status = "processing"
                row.attempts += 1
                row.lease_until = now + dt.timedelta(seconds=lease_s)
                claimed.append(
                    ClaimedUpdate(row.update_id, row.user_id, json.loads(row.payload), row.attempts)
                )
            return claimed

    def finish(self, update_id: int, status: str = "done") -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.update_id == update_id)
                .values(status=status, done_at=utcnow())
            )

    def release(self, update_id: int, delay_s: float) -> None:
        """Back to pending, not before ``delay_s`` (a retry after a transient failure)."""
        with self._sessions.begin() as session:
            session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.update_id == update_id)
                .values(status="processing", lease_until=utcnow() + dt.timedelta(seconds=delay_s))
            )

    def counts(self) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(select(InboxUpdate.status, func.count()).group_by(InboxUpdate.status))
            return {str(status): int(count) for status, count in rows}


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
