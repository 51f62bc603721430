"""The inbox loop: updates are leased, processed one at a time per user (users in parallel), then marked done.

A worker that dies mid-update leaves a lease that expires; the next worker (after a restart) picks the update up
again, so every accepted update is answered. Failures are retried with backoff, and end as "failed" after
``max_attempts`` (the handlers already turn gateway failures into a friendly reply).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from llmstack_bot.repositories import ClaimedUpdate, InboxRepository

log = logging.getLogger("llmstack.worker")


class InboxWorker:
    def __init__(
        self,
        inbox: InboxRepository,
        handle: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        lease_s: float = 300.0,
        batch: int = 100,
        concurrency: int = 16,
        max_attempts: int = 5,
        idle_s: float = 0.5,
    ) -> None:
        self._inbox = inbox
        self._handle = handle
        self._lease_s = lease_s
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        self._max_attempts = max_attempts
        self._idle_s = idle_s
        self._wake = asyncio.Event()
        self._stopping = False

    def notify(self) -> None:
        """The webhook stored something: look now instead of at the next tick."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                processed = await self.drain_once()
            except Exception:
                log.exception("inbox loop failed; retrying")
                processed = 0
            if not processed:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._idle_s)

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def drain_once(self) -> int:
        claimed = await asyncio.to_thread(self._inbox.claim, self._batch, self._lease_s)
        by_user: dict[int | None, list[ClaimedUpdate]] = defaultdict(list)
        for item in claimed:
            by_user[item.user_id].append(item)
        await asyncio.gather(*(self._user_queue(items) for items in by_user.values()))
        return len(claimed)

    async def _user_queue(self, items: list[ClaimedUpdate]) -> None:
        async with self._slots:
            for item in items:  # one request in flight per user, in arrival order
                await self._process(item)

    async def _process(self, item: ClaimedUpdate) -> None:
        try:
            await self._handle(item.payload)
        except Exception:
            log.exception("update %s failed (attempt %s)", item.update_id, item.attempts)
            if item.attempts >= self._max_attempts:
                await asyncio.to_thread(self._inbox.finish, item.update_id, "failed")
            else:
                await asyncio.to_thread(self._inbox.release, item.update_id, min(60.0, 2.0**item.attempts))
            return
        await asyncio.to_thread(self._inbox.finish, item.update_id, "done")
