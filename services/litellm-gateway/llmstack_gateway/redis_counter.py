"""The budget counter in Redis, shared by every worker and replica of a deployed stack.

Each step runs as one Lua script on Redis's own clock (``TIME``), so concurrent workers and replicas cannot race
between the check and the update, and their clocks need not agree. The contract is ``counter.BudgetCounter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llmstack_gateway.counter import (
    SPLIT_BY,
    UNATTRIBUTED,
    ClientShare,
    CounterUnavailable,
    DayTotals,
    Reservation,
    Split,
)

#: a day's keys outlive the day, so a late settlement still finds its hold
TTL_S = 48 * 3600
#: a day's totals (spent, requests, split by group, provider, client) are kept at least 31 days (``GET /budget``)
TOTALS_TTL_S = 35 * 86400

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
