"""The Telegram bot under load, as ratios of one run. Not a test.

1. Webhook acknowledgement latency and sustained updates per second, the bot (durable inbox on Postgres)
   against a bare FastAPI endpoint that only answers 200.
2. Head-of-line blocking: user B's answer time while user A's model call takes ``--slow-s`` seconds, over
   B's answer time when alone (1.0: A does not hold B up).
3. Reply throughput: ``--users`` users at once whose model calls take ``--call-s`` seconds, against the ideal
   for the worker pool (``ceil(users / pool) * call``; 1.0: the pool is the only limit).

The bot runs as its container runs it (``python -m llmstack_bot.app``), driven only through its webhook and
the Telegram stand-in, with the fake gateway (tests/fakes/gateway_api.py) answering the model calls.

Usage: python bench/bot_bench.py [--smoke] [--sequential N] [--concurrent N] [--users N] [--pool N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import math
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the shared fakes in tests/fakes, when run as a script

from infra.localgateway import LocalBot, LocalService, free_port  # noqa: E402
from infra.simulator.telegram import FakeTelegram  # noqa: E402
from tests.fakes.gateway_api import FakeGateway  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BARE_APP = Path(__file__).resolve().parent / "bare_webhook"
TOKEN = "123456789:" + "B" * 35
SECRET = secrets.token_urlsafe(32)
GATEWAY_KEY = secrets.token_urlsafe(32)
_update_ids = itertools.count(1_000_000)


def update(user_id: int, text: str) -> dict[str, object]:
    """A private text message as Telegram sends it (services/telegram-bot/tests/payloads/private_text.json)."""
    update_id = next(_update_ids)
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "text": text,
            "from": {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"},
            "chat": {"id": user_id, "type": "private"},
        },
    }


def post_all(url: str, updates: list[dict[str, object]], clients: int) -> tuple[list[float], float]:
    """Each update posted to the webhook; acknowledgement latencies (ms) and updates per second."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    latencies: list[float] = []
    with httpx.Client(timeout=30) as client:

        def post(body: dict[str, object]) -> None:
            started = time.perf_counter()
            client.post(f"{url}/telegram/webhook", json=body, headers=headers).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        if clients == 1:
            for body in updates:
                post(body)
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as pool:
                list(pool.map(post, updates))
        return latencies, len(updates) / (time.perf_counter() - started)


def wait_until(condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``condition`` held; raises when it did not within ``timeout_s``."""
    started = time.perf_counter()
    while not condition():
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"not done within {timeout_s:.0f} s")
        time.sleep(0.01)
    return time.perf_counter() - started


def answers(telegram: FakeTelegram, chat_id: int) -> int:
    return sum(1 for m in telegram.delivered(chat_id) if str(m["text"]).startswith("echo:"))


def answered_chats(telegram: FakeTelegram) -> set[int]:
    """Chats with a model answer delivered (one pass over the stand-in's record, not one per chat)."""
    return {int(m["chat_id"]) for m in telegram.delivered() if str(m["text"]).startswith("echo:")}


@contextmanager
def schema() -> Iterator[str]:
    """A DATABASE_URL on a fresh Postgres schema, dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {name}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{name}"
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {name} CASCADE")


def bot_env(telegram: FakeTelegram, database_url: str, **extra: str) -> dict[str, str]:
    return {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE": telegram.api_base,
        "TELEGRAM_BOT_USERNAME": telegram.username,
        "ALERTS_SECRET": secrets.token_urlsafe(32),
        "GATEWAY_API_KEY": GATEWAY_KEY,
        "DATABASE_URL": database_url,
        "BIND_HOST": "127.0.0.1",
        **extra,
    }


def acknowledgements(
    args: argparse.Namespace, telegram: FakeTelegram, running_bot: LocalService | None = None
) -> dict[str, tuple[list[float], float]]:
    """Webhook acks of the bare endpoint and the bot: a bot of its own, or ``running_bot`` (the smoke run's one
    bot; users 7000+ are strangers to it, so its worker answers each with one notice, as the own bot's does)."""
    results: dict[str, tuple[list[float], float]] = {}
    with schema() as database_url:
        # no allowed users: the worker answers strangers with one notice, no gateway needed
        bot = running_bot or LocalBot(bot_env(telegram, database_url, ALLOWED_USER_IDS=""))
        bare = LocalService(
            module="bare_webhook", service_dir=BARE_APP, health_path="/health", port=free_port()
        )
        for name, service in (("bare", bare), ("bot", bot)):
            with nullcontext() if service is running_bot else service.running():
                post_all(service.url, [update(7000 + i, f"w{i}") for i in range(20)], 1)
                sequential, _ = post_all(
                    service.url, [update(7000 + i % 50, f"m{i}") for i in range(args.sequential)], 1
                )
                _, throughput = post_all(
                    service.url, [update(7000 + i % 50, f"c{i}") for i in range(args.concurrent)], 16
                )
                results[name] = (sorted(sequential), throughput)
    return results


def answer_times(
    args: argparse.Namespace,
    telegram: FakeTelegram,
    first: Callable[[LocalService], object] = lambda bot: None,
) -> tuple[float, float, float, float]:
    """(B alone, B behind A's slow call, measured time for all users, ideal time for all users); ``first`` runs
    on the started bot before any of it."""
    user_a, user_b = 8001, 8002
    crowd = list(range(9000, 9000 + args.users))
    gateway = FakeGateway(GATEWAY_KEY, delay_s=args.call_s)
    with gateway.running(), schema() as database_url:
        env = bot_env(
            telegram,
            database_url,
            GATEWAY_BASE_URL=gateway.url,
            ALLOWED_USER_IDS=",".join(str(u) for u in (user_a, user_b, *crowd)),
            WORKER_CONCURRENCY=str(args.pool),
            REQUESTS_PER_MINUTE="1000",
        )
        with LocalBot(env).running() as bot:
            first(bot)

            def ask(user: int, text: str) -> None:
                post_all(bot.url, [update(user, text)], 1)

            def answered_in(user: int, before: int) -> float:
                return wait_until(lambda: answers(telegram, user) > before, timeout_s=60)

            ask(user_b, "warm up")
            answered_in(user_b, 0)
            alone, behind = [], []
            for round_ in range(args.rounds):
                before = answers(telegram, user_b)
                started = time.perf_counter()
                ask(user_b, f"alone {round_}")
                answered_in(user_b, before)
                alone.append(time.perf_counter() - started)

                gateway.delay_by_user[str(user_a)] = args.slow_s
                a_before, before = answers(telegram, user_a), answers(telegram, user_b)
                ask(user_a, f"slow question {round_}")
                time.sleep(0.2)  # A's turn is under way before B asks
                started = time.perf_counter()
                ask(user_b, f"behind A {round_}")
                answered_in(user_b, before)
                behind.append(time.perf_counter() - started)
                answered_in(user_a, a_before)  # the next round starts with nobody in flight
                gateway.delay_by_user.pop(str(user_a))

            started = time.perf_counter()
            post_all(bot.url, [update(u, "crowd question") for u in crowd], 16)
            wait_until(lambda: answered_chats(telegram) >= set(crowd), timeout_s=120)
            crowd_s = time.perf_counter() - started
    ideal = math.ceil(len(crowd) / args.pool) * args.call_s
    return statistics.median(alone), statistics.median(behind), crowd_s, ideal


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny, fast run (the test suite's)")
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=2000)
    parser.add_argument("--users", type=int, default=50, help="users asking at once in the throughput run")
    parser.add_argument("--pool", type=int, default=16, help="the bot's WORKER_CONCURRENCY")
    parser.add_argument("--call-s", type=float, default=1.0, help="every model call's duration")
    parser.add_argument("--slow-s", type=float, default=5.0, help="user A's model call's duration")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of the head-of-line measurement")
    args = parser.parse_args()
    if args.smoke:
        args.sequential, args.concurrent, args.users, args.pool = 20, 40, 6, 3
        args.call_s, args.slow_s, args.rounds = 0.3, 1.5, 1
    with FakeTelegram(TOKEN).running() as telegram:
        if args.smoke:  # one bot start (the slow part): the acks run on the answering bot first
            acks: dict[str, tuple[list[float], float]] = {}
            alone, behind, crowd_s, ideal = answer_times(
                args, telegram, lambda bot: acks.update(acknowledgements(args, telegram, bot))
            )
        else:
            acks = acknowledgements(args, telegram)
            telegram.reset()
            alone, behind, crowd_s, ideal = answer_times(args, telegram)
    (bare_lat, bare_tput), (bot_lat, bot_tput) = acks["bare"], acks["bot"]
    p99 = lambda xs: xs[min(len(xs) - 1, int(len(xs) * 0.99))]  # noqa: E731
    print(
        f"one run; {args.sequential} sequential acknowledgements, {args.concurrent} concurrent (16 clients)"
    )
    print(
        f"  webhook ack p50, bot / bare:                 {statistics.median(bot_lat) / statistics.median(bare_lat):5.2f}x"
    )
    print(f"  webhook ack p99, bot / bare:                 {p99(bot_lat) / p99(bare_lat):5.2f}x")
    print(f"  sustained updates per second, bot / bare:    {bot_tput / bare_tput:5.2f}x")
    print(f"model calls of {args.call_s:g} s; user A's of {args.slow_s:g} s; pool of {args.pool}")
    print(f"  B's answer time behind A's slow call / alone: {behind / alone:5.2f}x  (1.0: A holds nobody up)")
    print(
        f"  {args.users} users at once, ideal / measured time:  {ideal / crowd_s:5.2f}x  (1.0: only the pool limits)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
