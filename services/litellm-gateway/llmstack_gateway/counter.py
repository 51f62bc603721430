"""The day's spend: ``spent + reserved <= cap`` holds after every operation, in one process or across many.

Amounts are integers in nano-USD, so no float drift. A reservation is a named hold with a start time:

* settling a hold is idempotent: the hold's id is recorded as settled atomically with the update, so a success
  and a late failure event for the same request cannot count it twice;
* a hold older than ``expiry_s`` (the stack's worst-case request time plus a margin) cannot belong to a running
  request any more: it was left by a worker that was killed mid-request. Every reservation first drops such
  holds, atomically, so a crash never blocks the day. A long stream keeps its hold alive with ``touch``;
* a request that settles after its hold expired still counts what it spent (the settled record, not the hold,
  is what prevents double counting), so the day's spend stays the truth.

This module is the contract (``BudgetCounter``) and the values it trades in; its two implementations are
``memory_counter.MemoryCounter`` (``llmstack local`` only) and ``redis_counter.RedisCounter`` (every deployed stack).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

NANO = 1_000_000_000
#: the split of a settlement whose group, provider or client could not be told (so each split adds up to spent)
UNATTRIBUTED = "unattributed"
#: the client name of the master key's spend, as the records name the caller (``clients.OPERATOR``). Before it was
#: written (issue 12), the master key's spend was settled without a client, so the client totals stored in Redis
#: then name it UNATTRIBUTED; every caller the proxy admits is a client or the operator, so reading maps that name
#: to this one (``DayTotals.shown``)
OPERATOR_NAME = "operator"
#: what a settlement is split by (``Split`` keys)
SPLIT_BY = ("group", "provider", "client")
#: a settlement's attribution: ``group``, ``provider``, ``client`` -> name
Split = Mapping[str, str]


def to_nano(usd: float) -> int:
    return round(usd * NANO)


class CounterUnavailable(Exception):  # noqa: N818 (a state, like ConnectionRefused)
    """The shared counter cannot be reached; the hook fails closed unless the stack opted out."""


@dataclass
class DayTotals:
    """One budget day as settled: what requests cost, split by group, provider and client (nano-USD)."""

    day: str
    spent: int = 0
    #: requests settled with a cost (releases, refusals and failures cost nothing and are not counted)
    requests: int = 0
    by_group: dict[str, int] = field(default_factory=dict)
    by_provider: dict[str, int] = field(default_factory=dict)
    by_client: dict[str, int] = field(default_factory=dict)

    def _splits(self) -> tuple[tuple[str, dict[str, int]], ...]:
        return (("group", self.by_group), ("provider", self.by_provider), ("client", self.by_client))

    def add(self, actual: int, split: Split | None) -> None:
        if actual <= 0:
            return
        self.spent += actual
        self.requests += 1
        for dimension, totals in self._splits():
            name = (split or {}).get(dimension) or UNATTRIBUTED
            totals[name] = totals.get(name, 0) + actual

    @classmethod
    def from_hash(cls, day: str, fields: Mapping[str, int]) -> DayTotals:
        """From the Redis hash the settle script writes: ``spent``, ``requests``, ``<dimension>:<name>``."""
        totals = cls(day, spent=int(fields.get("spent", 0)), requests=int(fields.get("requests", 0)))
        for dimension, split in totals._splits():
            for field_name, amount in fields.items():
                if field_name.startswith(f"{dimension}:") and int(amount):
                    split[field_name[len(dimension) + 1 :]] = int(amount)
        return totals.shown()

    def shown(self) -> DayTotals:
        """As ``GET /budget`` shows it: a client spend without a client is the operator's (see OPERATOR_NAME)."""
        unnamed = self.by_client.pop(UNATTRIBUTED, 0)
        if unnamed:
            self.by_client[OPERATOR_NAME] = self.by_client.get(OPERATOR_NAME, 0) + unnamed
        if not self.by_client.keys() - {OPERATOR_NAME}:
            # only the master key spent (a stack without clients, issue 13): no client split to show
            self.by_client.clear()
        return self


@dataclass(frozen=True)
class Reservation:
    admitted: bool
    spent: int
    #: held by requests in flight, after expired holds were dropped (this reservation included when admitted)
    reserved: int
    #: the calling client's own spend and holds (0 without a client)
    client_spent: int = 0
    client_reserved: int = 0
    #: refused because the client's share (not the stack's cap) is spent
    client_share_spent: bool = False


@dataclass(frozen=True)
class ClientShare:
    """A client's hard sub-cap inside the stack's cap, checked in the same atomic step as the cap."""

    name: str
    #: nano-USD; None counts the client's spend without capping it
    cap: int | None = None


class BudgetCounter(Protocol):
    async def reserve(
        self, day: str, hold: str, amount: int, cap: int, client: ClientShare | None = None
    ) -> Reservation: ...

    async def client_spent(self, day: str) -> dict[str, int]:
        """Each client's settled spend of the day, nano-USD."""
        ...

    async def settle(self, day: str, hold: str, actual: int, split: Split | None = None) -> int | None:
        """Replace the hold by the actual cost; the day's spend after it, or None if already settled.

        ``split`` (group, provider, client) attributes the cost in the day's totals, in the same atomic step.
        """
        ...

    async def history(self, days: Sequence[str]) -> list[DayTotals]:
        """Each day's totals, in the order asked (a day without settlements: zeros)."""
        ...

    async def release(self, day: str, hold: str) -> None: ...

    async def touch(self, day: str, hold: str) -> bool:
        """Restart an open hold's expiry clock (a stream that is still delivering); False if it is gone."""
        ...

    async def spent(self, day: str) -> tuple[int, int]: ...

    async def open_holds(self, day: str) -> int: ...

    async def claim_alert(self, day: str, threshold: float) -> bool:
        """True exactly once per day and threshold, across every process."""
        ...

    async def unclaim_alert(self, day: str, threshold: float) -> None: ...

    async def ping(self) -> None: ...
