"""The budget counter in one process's memory (``llmstack local`` only): it dies with the process.

The same contract as the Redis counter (``counter.BudgetCounter``), one ``asyncio.Lock`` making each step atomic.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from llmstack_gateway.counter import ClientShare, DayTotals, Reservation, Split


@dataclass
class MemoryCounter:
    """One process (``llmstack local`` only): the counter lives in memory and dies with the process."""

    expiry_s: float = 3600.0
    clock: Callable[[], float] = time.time
    _spent: dict[str, int] = field(default_factory=dict)
    #: day -> hold -> (amount, started at)
    _holds: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)
    _settled: dict[str, set[str]] = field(default_factory=dict)
    _totals: dict[str, DayTotals] = field(default_factory=dict)
    _alerts: set[tuple[str, float]] = field(default_factory=set)
    #: day -> client -> settled spend; hold -> client, kept after expiry so a late settlement still counts
    _client_spent: dict[str, dict[str, int]] = field(default_factory=dict)
    _hold_client: dict[str, str] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _client_reserved(self, day: str, client: str) -> int:
        holds = self._holds.get(day, {})
        return sum(amount for hold, (amount, _) in holds.items() if self._hold_client.get(hold) == client)

    def _reserved(self, day: str) -> int:
        return sum(amount for amount, _ in self._holds.get(day, {}).values())

    def _expire(self, day: str) -> None:
        holds = self._holds.get(day, {})
        oldest = self.clock() - self.expiry_s
        for hold in [h for h, (_, started) in holds.items() if started < oldest]:
            del holds[hold]

    async def reserve(
        self, day: str, hold: str, amount: int, cap: int, client: ClientShare | None = None
    ) -> Reservation:
        async with self._lock:
            self._expire(day)
            spent, reserved = self._spent.get(day, 0), self._reserved(day)
            c_spent = self._client_spent.get(day, {}).get(client.name, 0) if client else 0
            c_reserved = self._client_reserved(day, client.name) if client else 0
            if spent + reserved + amount > cap:
                return Reservation(False, spent, reserved, c_spent, c_reserved)
            if client is not None and client.cap is not None and c_spent + c_reserved + amount > client.cap:
                return Reservation(False, spent, reserved, c_spent, c_reserved, client_share_spent=True)
            self._holds.setdefault(day, {})[hold] = (amount, self.clock())
            if client is not None:
                self._hold_client[hold] = client.name
                c_reserved += amount
            return Reservation(True, spent, reserved + amount, c_spent, c_reserved)

    async def client_spent(self, day: str) -> dict[str, int]:
        async with self._lock:
            return dict(self._client_spent.get(day, {}))

    async def history(self, days: Sequence[str]) -> list[DayTotals]:
        async with self._lock:
            return [copy.deepcopy(self._totals.get(day) or DayTotals(day)).shown() for day in days]

    async def settle(self, day: str, hold: str, actual: int, split: Split | None = None) -> int | None:
        async with self._lock:
            settled = self._settled.setdefault(day, set())
            if hold in settled:
                return None
            settled.add(hold)
            self._totals.setdefault(day, DayTotals(day)).add(actual, split)
            self._holds.get(day, {}).pop(hold, None)
            self._spent[day] = self._spent.get(day, 0) + actual
            client = self._hold_client.pop(hold, None)
            if client is not None:
                per_client = self._client_spent.setdefault(day, {})
                per_client[client] = per_client.get(client, 0) + actual
            return self._spent[day]

    async def release(self, day: str, hold: str) -> None:
        await self.settle(day, hold, 0)

    async def touch(self, day: str, hold: str) -> bool:
        async with self._lock:
            holds = self._holds.get(day, {})
            if hold not in holds:
                return False
            holds[hold] = (holds[hold][0], self.clock())
            return True

    async def spent(self, day: str) -> tuple[int, int]:
        async with self._lock:
            self._expire(day)
            return self._spent.get(day, 0), self._reserved(day)

    async def open_holds(self, day: str) -> int:
        async with self._lock:
            self._expire(day)
            return len(self._holds.get(day, {}))

    async def claim_alert(self, day: str, threshold: float) -> bool:
        async with self._lock:
            if (day, threshold) in self._alerts:
                return False
            self._alerts.add((day, threshold))
            return True

    async def unclaim_alert(self, day: str, threshold: float) -> None:
        async with self._lock:
            self._alerts.discard((day, threshold))

    async def ping(self) -> None:
        return None
