"""The inbox loop: a pool of turns in flight, one per chat, leased for seconds and renewed while they run.

Leasing continues while turns run (no batch barrier): whenever a slot is free, the oldest open update of a chat
with nothing in flight is leased, so nobody waits for another chat's model call unless all ``concurrency``
slots are busy. Leases are short and renewed every third of their length; a process that dies (SIGKILL, OOM,
redeploy) stops renewing, and its updates are leased again by the next process ``lease_s`` later at most.
On SIGTERM leasing stops, in-flight turns get until the stop deadline to finish, and what is still running is
cancelled and handed back (pending at once); the turn journal makes the next try resume where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram.exceptions import TelegramBadRequest

from llmstack_bot.db import Database, DatabaseUnavailable
from llmstack_bot.delivery import ChatUnreachable, RetryLater
from llmstack_bot.repositories import ClaimedUpdate, InboxRepository

log = logging.getLogger("llmstack.worker")


class InboxWorker:
    def __init__(
        self,
        db: Database,
        inbox: InboxRepository,
        process: Callable[[ClaimedUpdate], Awaitable[object]],
        *,
        concurrency: int = 16,
        lease_s: float = 15.0,
        max_attempts: int = 5,
        idle_s: float = 0.5,
        backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
    ) -> None:
        self._db = db
        self._inbox = inbox
        self._process = process
        self.concurrency = concurrency
        self.lease_s = lease_s
        self._max_attempts = max_attempts
        self._idle_s = idle_s
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        #: this process's name on its leases
        self.owner = f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: dict[asyncio.Task[None], ClaimedUpdate] = {}

    @property
    def in_flight(self) -> list[int]:
        return [item.update_id for item in self._in_flight.values()]

    def notify(self) -> None:
        """Something to lease (the webhook stored an update) or a slot freed: look now, not at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        renewing = asyncio.create_task(self._renew_leases())
        try:
            while not self._stopping:
                self._wake.clear()
                await self._lease_more()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing

    async def _lease_more(self) -> None:
        free = self.concurrency - len(self._in_flight)
        if free <= 0 or not self._db.migrated.is_set():
            return
        busy = frozenset(item.chat_key for item in self._in_flight.values())
        try:
            claimed = await self._db.run(self._inbox.claim, free, self.lease_s, self.owner, busy)
        except DatabaseUnavailable as exc:
            log.warning("cannot lease updates: %s", exc)
            return
        for item in claimed:
            task = asyncio.create_task(self._run_one(item), name=f"update-{item.update_id}")
            self._in_flight[task] = item

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            ids = self.in_flight
            if not ids:
                continue
            try:
                held = await self._db.run(self._inbox.renew, ids, self.lease_s, self.owner)
            except DatabaseUnavailable as exc:
                log.warning("cannot renew %d lease(s): %s", len(ids), exc)
                continue
            still = [i for i in ids if i in self.in_flight]  # some may have finished meanwhile
            if held < len(still):
                log.warning("%d of %d lease(s) were taken over", len(still) - held, len(still))

    async def _run_one(self, item: ClaimedUpdate) -> None:
        try:
            outcome = await self._outcome(item)
            with contextlib.suppress(DatabaseUnavailable):  # the lease expires and the journal resumes it
                await outcome
        finally:
            self._in_flight.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
            self.notify()

    async def _outcome(self, item: ClaimedUpdate) -> Awaitable[None]:
        """Process the update; returns the inbox write that records how it ended."""
        try:
            await self._process(item)
        except ChatUnreachable as exc:
            log.info("update %s: %s; not answered", item.update_id, exc)
            return self._ended(item, self._inbox.finish, "done", str(exc))
        except RetryLater as exc:
            return self._ended(item, self._inbox.release, exc.delay_s, str(exc))
        except TelegramBadRequest as exc:  # Telegram refuses this request as it is: trying again cannot help
            log.error("update %s: Telegram refused a message: %s", item.update_id, exc.message)
            return self._ended(item, self._inbox.finish, "failed", exc.message)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            if item.attempts >= self._max_attempts:
                log.exception("update %s failed for good after %s attempts", item.update_id, item.attempts)
                return self._ended(item, self._inbox.finish, "failed", error)
            delay = min(self._max_backoff_s, self._backoff_s * 2 ** (item.attempts - 1))
            log.warning(
                "update %s failed (attempt %s), retrying in %g s: %s",
                item.update_id,
                item.attempts,
                delay,
                error,
            )
            return self._ended(item, self._inbox.release, delay, error)
        return self._ended(item, self._inbox.finish, "done")

    async def _ended(self, item: ClaimedUpdate, write: Callable[..., bool], *args: Any) -> None:
        """The inbox write that records how a turn ended, as this process's lease holder only."""
        if not await self._db.run(write, item.update_id, self.owner, *args):
            log.warning(
                "update %s: its lease passed to another process while this turn ran; that one's outcome stands",
                item.update_id,
            )

    async def shutdown(self, loop_task: asyncio.Task[None] | None, timeout_s: float) -> list[int]:
        """Stop leasing; let turns finish within ``timeout_s``, then cancel the rest and hand them back.

        Returns the update ids handed back."""
        self._stopping = True
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        if loop_task is not None:
            # the loop may be waiting on the database (a lease query): it gets a moment, not the budget
            await asyncio.wait([loop_task], timeout=min(0.5, timeout_s / 4))
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task
        # the last part of the budget is for handing back (one short database write)
        hand_back_s = min(1.0, timeout_s / 3)
        tasks = list(self._in_flight)
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, deadline - hand_back_s - loop.time()))
        left = {task: item for task, item in self._in_flight.items() if not task.done()}
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(list(left), timeout=0.2)
            ids = [item.update_id for item in left.values()]
            try:
                await self._db.run(
                    self._inbox.hand_back, ids, self.owner, timeout_s=max(0.2, deadline - loop.time())
                )
                log.info("handed back %s at shutdown", ids)
            except DatabaseUnavailable:
                log.warning("could not hand back %s; their leases expire in %g s", ids, self.lease_s)
            return ids
        return []
