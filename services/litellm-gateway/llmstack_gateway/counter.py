"""The day's spend: ``spent + reserved <= cap`` holds after every operation, in one process or across many.

Amounts are integers in nano-USD, so no float drift. A reservation is a named hold with a start time:

* settling a hold is idempotent: the hold's id is recorded as settled atomically with the update, so a success
  and a late failure event for the same request cannot count it twice;
* a hold older than ``expiry_s`` (the stack's worst-case request time plus a margin) cannot belong to a running
  request any more: it was left by a worker that was killed mid-request. Every reservation first drops such
  holds, atomically, so a crash never blocks the day. A long stream keeps its hold alive with ``touch``;
* a request that settles after its hold expired still counts what it spent (the settled record, not the hold,
  is what prevents double counting), so the day's spend stays the truth.

The Redis version runs each step as one Lua script on Redis's own clock (``TIME``), so concurrent workers and
replicas cannot race between the check and the update, and their clocks need not agree.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

NANO = 1_000_000_000
#: a day's keys outlive the day, so a late settlement still finds its hold
TTL_S = 48 * 3600
#: a day's totals (spent, requests, split by group, provider, client) are kept at least 31 days (``GET /budget``)
TOTALS_TTL_S = 35 * 86400
#: the split of a settlement whose group, provider or client could not be told (so each split adds up to spent)
UNATTRIBUTED = "unattributed"
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
            for name, amount in fields.items():
                if name.startswith(f"{dimension}:") and int(amount):
                    split[name[len(dimension) + 1 :]] = int(amount)
        return totals.shown()

    def shown(self) -> DayTotals:
        if not self.by_client.keys() - {UNATTRIBUTED}:
            self.by_client.clear()  # a stack without clients (issue 13): no client split to show
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


# KEYS: spent, reserved, holds (id -> amount), starts (id -> ms on Redis's clock), settled (id -> actual),
#       client spent (client -> nano), client reserved (client -> nano), hold client (id -> client; kept when a
#       hold expires, so a late settlement still counts for its client)
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_EXPIRE = """
local starts = redis.call('HGETALL', KEYS[4])
for i = 1, #starts, 2 do
  if now - tonumber(starts[i + 1]) > tonumber(ARGV[5]) then
    local held = redis.call('HGET', KEYS[3], starts[i])
    if held then
      redis.call('HDEL', KEYS[3], starts[i])
      redis.call('DECRBY', KEYS[2], held)
      local client = redis.call('HGET', KEYS[8], starts[i])
      if client then redis.call('HINCRBY', KEYS[7], client, -tonumber(held)) end
    end
    redis.call('HDEL', KEYS[4], starts[i])
  end
end
"""

# ARGV: amount, cap, hold, ttl, expiry ms, client ('' for none), client cap (-1 for none)
# returns admitted (1), refused by the cap (0) or by the client's share (2); spent, reserved; the client's two
_RESERVE = (
    _NOW_MS
    + _EXPIRE
    + """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = tonumber(redis.call('GET', KEYS[2]) or '0')
local amount = tonumber(ARGV[1])
local client = ARGV[6]
local c_spent, c_reserved = 0, 0
if client ~= '' then
  c_spent = tonumber(redis.call('HGET', KEYS[6], client) or '0')
  c_reserved = tonumber(redis.call('HGET', KEYS[7], client) or '0')
end
if spent + reserved + amount > tonumber(ARGV[2]) then
  return {0, spent, reserved, c_spent, c_reserved}
end
local c_cap = tonumber(ARGV[7])
if client ~= '' and c_cap >= 0 and c_spent + c_reserved + amount > c_cap then
  return {2, spent, reserved, c_spent, c_reserved}
end
redis.call('INCRBY', KEYS[2], amount)
redis.call('HSET', KEYS[3], ARGV[3], amount)
redis.call('HSET', KEYS[4], ARGV[3], now)
if client ~= '' then
  redis.call('HINCRBY', KEYS[7], client, amount)
  redis.call('HSET', KEYS[8], ARGV[3], client)
  c_reserved = c_reserved + amount
end
for i = 1, 8 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return {1, spent, reserved + amount, c_spent, c_reserved}
"""
)

# ARGV: hold, actual, ttl
_SETTLE = """
if redis.call('HSETNX', KEYS[5], ARGV[1], ARGV[2]) == 0 then
  return -1
end
-- the day's totals (the last key; ARGV[4] its ttl, ARGV[5..] the split's fields, e.g. 'group:<name>')
local actual = tonumber(ARGV[2])
if actual > 0 then
  redis.call('HINCRBY', KEYS[#KEYS], 'spent', actual)
  redis.call('HINCRBY', KEYS[#KEYS], 'requests', 1)
  for i = 5, #ARGV do redis.call('HINCRBY', KEYS[#KEYS], ARGV[i], actual) end
  redis.call('EXPIRE', KEYS[#KEYS], ARGV[4])
end
local held = redis.call('HGET', KEYS[3], ARGV[1])
local client = redis.call('HGET', KEYS[8], ARGV[1])
if held then
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('DECRBY', KEYS[2], held)
  if client then redis.call('HINCRBY', KEYS[7], client, -tonumber(held)) end
end
if client then
  redis.call('HINCRBY', KEYS[6], client, ARGV[2])
  redis.call('HDEL', KEYS[8], ARGV[1])
end
redis.call('HDEL', KEYS[4], ARGV[1])
local spent = redis.call('INCRBY', KEYS[1], ARGV[2])
for i = 1, 8 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return spent
"""

# ARGV: hold
_TOUCH = (
    _NOW_MS
    + """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[4], ARGV[1], now)
return 1
"""
)

# ARGV: (unused) x4, expiry ms; returns spent, reserved, open holds after dropping expired ones
_READ = (
    _NOW_MS
    + _EXPIRE
    + """
return {tonumber(redis.call('GET', KEYS[1]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'),
        redis.call('HLEN', KEYS[3])}
"""
)


class RedisCounter:
    """Shared by every worker and replica; survives a gateway restart (Redis persists append-only on Railway)."""

    def __init__(self, url: str, prefix: str, expiry_s: float = 3600.0) -> None:
        self._url = url
        self._prefix = prefix
        self._expiry_ms = int(expiry_s * 1000)
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    def keys(self, day: str) -> list[str]:
        # one hash slot per day, so the scripts also work on a Redis cluster
        tag = f"{{{self._prefix}:{day}}}"
        names = (
            "spent",
            "reserved",
            "holds",
            "starts",
            "settled",
            "client_spent",
            "client_reserved",
            "hold_client",
        )
        return [f"budget:{tag}:{name}" for name in names]

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as redis_asyncio

            self._client = redis_asyncio.from_url(self._url, socket_connect_timeout=2, socket_timeout=2)
            self._scripts = {
                name: self._client.register_script(source)
                for name, source in (
                    ("reserve", _RESERVE),
                    ("settle", _SETTLE),
                    ("touch", _TOUCH),
                    ("read", _READ),
                )
            }
        return self._client

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        client = self._redis()
        try:
            return await self._scripts[script](keys=keys, args=args, client=client)
        except (OSError, ConnectionError) as exc:
            raise CounterUnavailable(f"Redis unreachable: {type(exc).__name__}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("redis"):
                raise CounterUnavailable(f"Redis error: {type(exc).__name__}") from exc
            raise

    async def reserve(
        self, day: str, hold: str, amount: int, cap: int, client: ClientShare | None = None
    ) -> Reservation:
        name = client.name if client else ""
        client_cap = client.cap if client is not None and client.cap is not None else -1
        args = [amount, cap, hold, TTL_S, self._expiry_ms, name, client_cap]
        status, spent, reserved, c_spent, c_reserved = await self._run("reserve", self.keys(day), args)
        return Reservation(
            status == 1,
            int(spent),
            int(reserved),
            int(c_spent),
            int(c_reserved),
            client_share_spent=status == 2,
        )

    async def client_spent(self, day: str) -> dict[str, int]:
        try:
            raw = await self._redis().hgetall(self.keys(day)[5])
        except Exception as exc:
            raise CounterUnavailable(f"Redis unreachable: {type(exc).__name__}") from exc
        return {k.decode(): int(v) for k, v in raw.items()}

    def totals_key(self, day: str) -> str:
        return f"budget:{{{self._prefix}:{day}}}:totals"

    async def settle(self, day: str, hold: str, actual: int, split: Split | None = None) -> int | None:
        fields = [f"{d}:{(split or {}).get(d) or UNATTRIBUTED}" for d in SPLIT_BY]
        keys = [*self.keys(day), self.totals_key(day)]
        spent = int(await self._run("settle", keys, [hold, actual, TTL_S, TOTALS_TTL_S, *fields]))
        return None if spent < 0 else spent

    async def history(self, days: Sequence[str]) -> list[DayTotals]:
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hgetall(self.totals_key(day))
                answers = await pipe.execute()
        except Exception as exc:
            if isinstance(exc, OSError) or type(exc).__module__.startswith("redis"):
                raise CounterUnavailable(f"Redis unreachable: {type(exc).__name__}") from exc
            raise
        return [
            DayTotals.from_hash(day, {k.decode(): int(v) for k, v in answer.items()})
            for day, answer in zip(days, answers, strict=True)
        ]

    async def release(self, day: str, hold: str) -> None:
        await self.settle(day, hold, 0)

    async def touch(self, day: str, hold: str) -> bool:
        return bool(await self._run("touch", self.keys(day), [hold]))

    async def _read(self, day: str) -> tuple[int, int, int]:
        spent, reserved, holds = await self._run("read", self.keys(day), [0, 0, 0, 0, self._expiry_ms])
        return int(spent), int(reserved), int(holds)

    async def spent(self, day: str) -> tuple[int, int]:
        spent, reserved, _ = await self._read(day)
        return spent, reserved

    async def open_holds(self, day: str) -> int:
        return (await self._read(day))[2]

    def _alert_key(self, day: str, threshold: float) -> str:
        return f"budget:{{{self._prefix}:{day}}}:alert:{threshold:g}"

    async def claim_alert(self, day: str, threshold: float) -> bool:
        return bool(await self._redis().set(self._alert_key(day, threshold), "1", nx=True, ex=TTL_S))

    async def unclaim_alert(self, day: str, threshold: float) -> None:
        await self._redis().delete(self._alert_key(day, threshold))

    async def ping(self) -> None:
        try:
            await self._redis().ping()
        except Exception as exc:
            raise CounterUnavailable(f"Redis unreachable: {type(exc).__name__}") from exc
