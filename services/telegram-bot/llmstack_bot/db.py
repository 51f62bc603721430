"""The database, with every wait bounded: connect, statement, pool checkout and the caller's whole request.

A database that hangs (accepts connections, never answers) must cost the webhook seconds, not minutes: calls run
on a dedicated thread pool and the caller stops waiting after ``request_timeout_s`` (a stuck thread finishes or
fails on its own once the connection moves again). Migrations run in the background until they succeed, so the
bot starts, answers 503 and reports why on /health while its database is away, and recovers when it comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")
log = logging.getLogger("llmstack.db")


class DatabaseUnavailable(Exception):  # noqa: N818 (a state reported on /health, not a bug)
    """The database did not answer in time, refused, or is not migrated yet; the message says which."""


def make_engine(
    url: str, *, connect_timeout_s: float = 3.0, statement_timeout_s: float = 5.0, pool_timeout_s: float = 2.0
) -> Engine:
    if url.startswith("sqlite"):
        busy_ms = int(statement_timeout_s * 1000)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": statement_timeout_s})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):  # type: ignore[no-untyped-def]
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA busy_timeout={busy_ms}")
            # WAL with synchronous=NORMAL survives a process crash (SIGKILL), not a power cut: the SQLite docs'
            # "WAL mode is safe from corruption with synchronous=NORMAL"; SQLite is the laptop database
            connection.execute("PRAGMA synchronous=NORMAL")

        return engine
    parsed = make_url(url)
    # libpq's options keep what the URL already says (a search_path, say) and add the server-side timeout;
    # connect_timeout is whole seconds, at least 2 (libpq docs, "connect_timeout")
    raw = parsed.query.get("options")
    given = " ".join(raw) if isinstance(raw, tuple) else raw
    options = " ".join(p for p in (given, f"-c statement_timeout={int(statement_timeout_s * 1000)}") if p)
    parsed = parsed.update_query_dict({"options": options})
    return create_engine(
        parsed,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=10,
        pool_timeout=pool_timeout_s,
        connect_args={"connect_timeout": max(2, math.ceil(connect_timeout_s))},
    )


def migrate(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class Database:
    """The engine, its sessions, a bounded way to call it from async code, and whether it is ready."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 3.0,
        statement_timeout_s: float = 5.0,
        pool_timeout_s: float = 2.0,
        request_timeout_s: float = 4.0,
    ) -> None:
        self.engine = make_engine(
            url,
            connect_timeout_s=connect_timeout_s,
            statement_timeout_s=statement_timeout_s,
            pool_timeout_s=pool_timeout_s,
        )
        self.sessions = sessions(self.engine)
        self.request_timeout_s = request_timeout_s
        # its own threads: a hanging database must not take the event loop's default executor with it. SQLite
        # takes one writer at a time and makes the others sleep in its busy handler (in growing steps), so
        # calls are queued on one thread instead: no lock waits, and far more updates per second
        threads = 1 if url.startswith("sqlite") else 32
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="llmstack-db")
        self.migrated = asyncio.Event()
        self.problem: str | None = "not migrated yet"

    async def run(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """``fn(*args)`` on the database's threads; DatabaseUnavailable when it fails or takes too long."""
        limit = self.request_timeout_s if timeout_s is None else timeout_s
        call = asyncio.get_running_loop().run_in_executor(self._threads, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(call, timeout=limit)
        except TimeoutError as exc:
            self.problem = f"no answer within {limit:g} s"
            raise DatabaseUnavailable(self.problem) from exc
        except SQLAlchemyError as exc:
            self.problem = f"{type(exc).__name__}: {_first_line(exc)}"
            raise DatabaseUnavailable(self.problem) from exc

    async def check(self) -> None:
        """Raises DatabaseUnavailable unless migrated and answering now."""
        if not self.migrated.is_set():
            raise DatabaseUnavailable(self.problem or "not migrated yet")
        await self.run(ping, self.engine)
        self.problem = None

    async def migrate_until_ready(self, *, first_wait_s: float = 0.5, max_wait_s: float = 5.0) -> None:
        """Apply migrations, retrying until the database is there (the bot serves 503 meanwhile)."""
        wait = first_wait_s
        while True:
            try:
                # no request timeout: a migration may be slow, and connect/statement timeouts still bound it
                await asyncio.get_running_loop().run_in_executor(self._threads, migrate, self.engine)
            except Exception as exc:  # any driver or Alembic failure: report it and try again
                self.problem = f"migrations failed: {type(exc).__name__}: {_first_line(exc)}"
                log.warning("database not ready (%s); retrying in %.1f s", self.problem, wait)
                await asyncio.sleep(wait)
                wait = min(max_wait_s, wait * 2)
                continue
            self.problem = None
            self.migrated.set()
            return

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            self.engine.dispose()


def _first_line(exc: BaseException) -> str:
    # driver messages can be long and may echo SQL; the first line names the problem
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
