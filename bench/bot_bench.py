"""Webhook acknowledgement latency and sustained updates per second, the bot (durable inbox on Postgres)
against a bare FastAPI endpoint that only answers 200, as ratios of one run. Not a test.

Usage: python bench/bot_bench.py [--sequential N] [--concurrent N]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import secrets
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from infra.localgateway import LocalBot, LocalService, free_port
from infra.simulator.telegram import FakeTelegram

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
BARE_APP = Path(__file__).resolve().parent / "bare_webhook"


def run(url: str, secret: str, updates: list[dict[str, object]], workers: int) -> tuple[list[float], float]:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    latencies: list[float] = []
    with httpx.Client(timeout=30) as client:

        def post(update: dict[str, object]) -> None:
            started = time.perf_counter()
            client.post(f"{url}/telegram/webhook", json=update, headers=headers).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        if workers == 1:
            for update in updates:
                post(update)
        else:
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(post, updates))
        return latencies, len(updates) / (time.perf_counter() - started)


def updates(start: int, count: int) -> list[dict[str, object]]:
    return [
        {
            "update_id": start + i,
            "message": {
                "message_id": i,
                "date": 0,
                "text": f"m{i}",
                "from": {"id": 7000 + i % 50, "is_bot": False, "first_name": "b"},
                "chat": {"id": 7000 + i % 50, "type": "private"},
            },
        }
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequential", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=2000)
    args = parser.parse_args()
    secret = secrets.token_urlsafe(32)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    token = "123456789:" + "B" * 35
    results: dict[str, tuple[list[float], float, float]] = {}
    try:
        with FakeTelegram(token).running() as telegram:
            bot = LocalBot(
                {
                    "TELEGRAM_BOT_TOKEN": token,
                    "TELEGRAM_WEBHOOK_SECRET": secret,
                    "TELEGRAM_API_BASE": telegram.api_base,
                    "ALERTS_SECRET": secrets.token_urlsafe(32),
                    "GATEWAY_API_KEY": secrets.token_urlsafe(32),
                    "DATABASE_URL": f"{POSTGRES}?options=-csearch_path%3D{schema}",
                    "ALLOWED_USER_IDS": "",  # the worker answers strangers with one line: no gateway in this benchmark
                }
            )
            bare = LocalService(
                module="bare_webhook", service_dir=BARE_APP, health_path="/health", port=free_port()
            )
            for name, service in (("bare FastAPI 200", bare), ("bot, inbox on Postgres", bot)):
                with service.running():
                    warm = updates(1, 20)
                    run(service.url, secret, warm, 1)
                    sequential, _ = run(service.url, secret, updates(1000, args.sequential), 1)
                    _, throughput = run(service.url, secret, updates(100_000, args.concurrent), 16)
                    ordered = sorted(sequential)
                    results[name] = (ordered, statistics.median(ordered), throughput)
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as connection:
            connection.execute(f"DROP SCHEMA {schema} CASCADE")
    bare_lat, bare_p50, bare_tput = results["bare FastAPI 200"]
    bot_lat, bot_p50, bot_tput = results["bot, inbox on Postgres"]
    p99 = lambda xs: xs[min(len(xs) - 1, int(len(xs) * 0.99))]  # noqa: E731
    print(
        f"one run; {args.sequential} sequential acknowledgements, {args.concurrent} concurrent (16 clients)"
    )
    print(f"  webhook ack p50, bot / bare:           {bot_p50 / bare_p50:5.2f}x")
    print(f"  webhook ack p99, bot / bare:           {p99(bot_lat) / p99(bare_lat):5.2f}x")
    print(f"  sustained updates per second, bot / bare: {bot_tput / bare_tput:5.2f}x")


if __name__ == "__main__":
    sys.exit(main())
