"""The day's spend: ``spent + reserved <= cap`` holds after every operation, in one process or across many.

Amounts are integers in nano-USD, so no float drift. A reservation is a named hold; settling a hold is
idempotent (the hold is removed atomically with the update), so a success and a late failure event for the
same request cannot count it twice. The Redis version runs each step as one Lua script, so concurrent workers
and replicas cannot race between the check and the update.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

NANO = 1_000_000_000
#: a day's keys outlive the day, so a late settlement still finds its hold
TTL_S = 48 * 3600


def to_nano(usd: float) -> int:
    return round(usd * NANO)


class CounterUnavailable(Exception):  # noqa: N818 (a state, like ConnectionRefused)
    """The shared counter cannot be reached; the hook fails closed unless the stack opted out."""


@dataclass(frozen=True)
class Reservation:
    admitted: bool
    spent: int
    reserved: int


class BudgetCounter(Protocol):
    async def reserve(self, day: str, hold: str, amount: int, cap: int) -> Reservation: ...

    async def settle(self, day: str, hold: str, actual: int) -> int | None:
        """Replace the hold by the actual cost; the day's spend after it, or None if already settled."""
        ...

    async def release(self, day: str, hold: str) -> None: ...

    async def spent(self, day: str) -> tuple[int, int]: ...

    async def claim_alert(self, day: str, threshold: float) -> bool:
        """True exactly once per day and threshold, across every process."""
        ...

    async def unclaim_alert(self, day: str, threshold: float) -> None: ...

    async def ping(self) -> None: ...


@dataclass
class MemoryCounter:
    """One process (one replica, one worker): the counter lives in memory and dies with the process."""

    _spent: dict[str, int] = field(default_factory=dict)
    _holds: dict[str, dict[str, int]] = field(default_factory=dict)
    _alerts: set[tuple[str, float]] = field(default_factory=set)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _reserved(self, day: str) -> int:
        return sum(self._holds.get(day, {}).values())

    async def reserve(self, day: str, hold: str, amount: int, cap: int) -> Reservation:
        async with self._lock:
            spent, reserved = self._spent.get(day, 0), self._reserved(day)
            if spent + reserved + amount > cap:
                return Reservation(False, spent, reserved)
            self._holds.setdefault(day, {})[hold] = amount
            return Reservation(True, spent, reserved + amount)

    async def settle(self, day: str, hold: str, actual: int) -> int | None:
        async with self._lock:
            if self._holds.get(day, {}).pop(hold, None) is None:
                return None
            self._spent[day] = self._spent.get(day, 0) + actual
            return self._spent[day]

    async def release(self, day: str, hold: str) -> None:
        async with self._lock:
            self._holds.get(day, {}).pop(hold, None)

    async def spent(self, day: str) -> tuple[int, int]:
        async with self._lock:
            return self._spent.get(day, 0), self._reserved(day)

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


_RESERVE = """
local spent = tonumber(redis.call('GET', KEYS[1]) or '0')
local reserved = tonumber(redis.call('GET', KEYS[2]) or '0')
local amount = tonumber(ARGV[1])
if spent + reserved + amount > tonumber(ARGV[2]) then
  return {0, spent, reserved}
end
redis.call('INCRBY', KEYS[2], amount)
redis.call('HSET', KEYS[3], ARGV[3], amount)
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[4]) end
return {1, spent, reserved + amount}
"""

_SETTLE = """
local amount = redis.call('HGET', KEYS[3], ARGV[1])
if not amount then
  return -1
end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('DECRBY', KEYS[2], amount)
local spent = redis.call('INCRBY', KEYS[1], ARGV[2])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
return spent
"""


class RedisCounter:
    """Shared by every worker and replica; survives a gateway restart (Redis persists append-only on Railway)."""

    def __init__(self, url: str, prefix: str) -> None:
        self._url = url
        self._prefix = prefix
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    def _keys(self, day: str) -> list[str]:
        # one hash slot per day, so the scripts also work on a Redis cluster
        tag = f"{{{self._prefix}:{day}}}"
        return [f"budget:{tag}:spent", f"budget:{tag}:reserved", f"budget:{tag}:holds"]

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as redis_asyncio

            self._client = redis_asyncio.from_url(self._url, socket_connect_timeout=2, socket_timeout=2)
            self._scripts = {
                "reserve": self._client.register_script(_RESERVE),
                "settle": self._client.register_script(_SETTLE),
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

    async def reserve(self, day: str, hold: str, amount: int, cap: int) -> Reservation:
        admitted, spent, reserved = await self._run("reserve", self._keys(day), [amount, cap, hold, TTL_S])
        return Reservation(bool(admitted), int(spent), int(reserved))

    async def settle(self, day: str, hold: str, actual: int) -> int | None:
        spent = int(await self._run("settle", self._keys(day), [hold, actual, TTL_S]))
        return None if spent < 0 else spent

    async def release(self, day: str, hold: str) -> None:
        await self.settle(day, hold, 0)

    async def spent(self, day: str) -> tuple[int, int]:
        spent_key, reserved_key, _ = self._keys(day)
        try:
            values = await self._redis().mget(spent_key, reserved_key)
        except (OSError, ConnectionError) as exc:
            raise CounterUnavailable(str(type(exc).__name__)) from exc
        return int(values[0] or 0), int(values[1] or 0)

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
