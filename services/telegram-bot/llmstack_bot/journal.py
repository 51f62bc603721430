"""The turn journal: each question's turn and each message sent for an update, so work is never done twice.

A turn is opened with the user's history message in one transaction (the question enters history once), and
answered with the assistant's history message and the usage record in one transaction (the model's answer is
stored once, usage counted once). Every message sent for an update is recorded right after Telegram accepts it,
so a retry or a restart resumes at the first message not yet delivered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from llmstack_bot.models import Delivery, HistoryMessage, Turn, UsageRecord, utcnow
from llmstack_bot.repositories import estimate_tokens


@dataclass(frozen=True)
class TurnRecord:
    update_id: int
    chat_id: int
    route: str
    #: asked -> answered | refused (a reply that is not the model's: budget, gateway down) -> delivered
    #: | undeliverable
    status: str
    #: what the user is sent: the model's answer, or the refusal
    reply: str | None


def _record(row: Turn) -> TurnRecord:
    return TurnRecord(row.update_id, row.chat_id, row.route, row.status, row.answer)


class TurnJournal:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def open(self, update_id: int, chat_id: int, user_id: int, route: str, question: str) -> TurnRecord:
        """This update's turn; on first call it is created and the question appended to history, together."""
        with self._sessions() as session:
            row = session.get(Turn, update_id)
            if row is not None:
                return _record(row)
        try:
            with self._sessions.begin() as session:
                row = Turn(update_id=update_id, chat_id=chat_id, user_id=user_id, route=route, status="asked")
                session.add(row)
                session.add(
                    HistoryMessage(
                        chat_id=chat_id, role="user", content=question, tokens=estimate_tokens(question)
                    )
                )
                return _record(row)
        except IntegrityError:  # another worker opened it a moment ago (a lease taken over)
            with self._sessions() as session:
                existing = session.get(Turn, update_id)
                assert existing is not None
                return _record(existing)

    def answer(self, update_id: int, text: str, cost_usd: float, day: str) -> TurnRecord:
        """Store the model's answer, its history message and its usage record once; returns the stored turn."""
        with self._sessions.begin() as session:
            row = session.get(Turn, update_id, with_for_update=True)
            assert row is not None, f"turn {update_id} was never opened"
            if row.answer is None:
                row.answer, row.status, row.answered_at = text, "answered", utcnow()
                session.add(
                    HistoryMessage(
                        chat_id=row.chat_id, role="assistant", content=text, tokens=estimate_tokens(text)
                    )
                )
                session.add(UsageRecord(user_id=row.user_id, day=day, cost_usd=cost_usd))
            return _record(row)

    def refuse(self, update_id: int, text: str) -> TurnRecord:
        """Store a reply that is not the model's (not in history, not counted), once."""
        with self._sessions.begin() as session:
            row = session.get(Turn, update_id, with_for_update=True)
            assert row is not None, f"turn {update_id} was never opened"
            if row.answer is None:
                row.answer, row.status, row.answered_at = text, "refused", utcnow()
            return _record(row)

    def close(self, update_id: int, status: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(Turn, update_id)
            if row is not None:
                row.status = status

    def exists(self, update_id: int) -> bool:
        with self._sessions() as session:
            return session.get(Turn, update_id) is not None

    def asked_since(self, user_id: int, since: dt.datetime, besides: int) -> list[dt.datetime]:
        """When this user's questions (other than update ``besides``) were asked after ``since``, oldest first."""
        with self._sessions() as session:
            return list(
                session.scalars(
                    select(Turn.created_at)
                    .where(Turn.user_id == user_id, Turn.created_at > since, Turn.update_id != besides)
                    .order_by(Turn.created_at)
                )
            )

    def count(self, status: str | None = None) -> int:
        with self._sessions() as session:
            query = select(func.count()).select_from(Turn)
            if status is not None:
                query = query.where(Turn.status == status)
            return int(session.scalar(query) or 0)


class DeliveryLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def delivered(self, update_id: int) -> set[int]:
        """The sequence numbers of the messages already sent for this update."""
        with self._sessions() as session:
            return set(session.scalars(select(Delivery.seq).where(Delivery.update_id == update_id)))

    def record(self, update_id: int, seq: int, message_id: int | None) -> None:
        try:
            with self._sessions.begin() as session:
                session.add(
                    Delivery(update_id=update_id, seq=seq, message_id=message_id, delivered_at=utcnow())
                )
        except IntegrityError:  # recorded by an earlier try of this update: nothing to add
            pass
