"""Tables: the inbox of updates, the turn journal and its deliveries, conversation history, per-chat route and
reachability, strangers' notices, per-user usage."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, DateTime, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class InboxUpdate(Base):
    """An update Telegram delivered: written before the webhook answers 200, so nothing accepted is lost."""

    __tablename__ = "inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    payload: Mapped[str] = mapped_column(Text)
    #: pending -> processing (leased) -> done | failed; rejected: never processable (kept for audit)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: the process holding the lease: only it may renew or finish it
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    #: why it was rejected or failed (no payload text: it may hold a user's words)
    error: Mapped[str | None] = mapped_column(String(500))


class Turn(Base):
    """One question and its answer, journaled so a retry or a restart never asks the model twice.

    Created together with the user's history message (one transaction); the answer, the assistant's history
    message and the usage record are written together too. Parts are re-derived from ``answer``."""

    __tablename__ = "turns"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    route: Mapped[str] = mapped_column(String(64))
    #: asked -> answered -> delivered | undeliverable (the chat blocked the bot)
    status: Mapped[str] = mapped_column(String(16))
    answer: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    answered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """A message the bot sent for an update, recorded right after Telegram accepted it: a retry skips it."""

    __tablename__ = "deliveries"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: the n-th message sent while handling this update
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    delivered_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChatState(Base):
    """A chat the bot cannot write to (403: blocked, kicked, deactivated) until the chat writes again."""

    __tablename__ = "chat_state"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    unreachable_since: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(200))


class StrangerNotice(Base):
    """ "This bot is private" was sent to this chat on this day: at most one a day, across restarts."""

    __tablename__ = "stranger_notices"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    #: the update that sent it: a retry of that update still sends it
    update_id: Mapped[int] = mapped_column(BigInteger)


class HistoryMessage(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChatRoute(Base):
    __tablename__ = "chat_routes"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    route: Mapped[str] = mapped_column(String(64))


class UsageRecord(Base):
    __tablename__ = "usage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    day: Mapped[str] = mapped_column(String(10), index=True)
    cost_usd: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
