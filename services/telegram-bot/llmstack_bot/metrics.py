"""The bot's own Prometheus metrics: updates, turns, queue depth, Telegram errors, reply latency.

One registry per app (not prometheus-client's global one), so two apps in one test process never share counts.
The bot is one process (uvicorn, one worker), so no multiprocess mode is needed. ``/metrics`` is on the bot's
public domain: it answers only to ``Authorization: Bearer <ALERTS_SECRET>``, the secret the gateway already holds
for the bot, so a scraper configured for the gateway's ``/metrics`` needs nothing new to read the bot's.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
#: seconds; a reply is a model call (seconds to a minute) plus Telegram sends
LATENCY_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
#: the inbox states counted as waiting (repositories.InboxRepository: pending, leased)
QUEUED_STATES = ("pending", "leased")


class BotMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.updates = Counter(
            "llmstack_bot_updates",
            "Webhook deliveries from Telegram, by what the bot did with them",
            ["outcome"],
            registry=self.registry,
        )
        self.turns = Counter(
            "llmstack_bot_turns",
            "Updates the worker processed, by how they ended (done, retry, failed, unreachable)",
            ["outcome"],
            registry=self.registry,
        )
        self.queue = Gauge(
            "llmstack_bot_queue_depth",
            "Updates stored and not yet answered (pending or leased), read from the inbox at scrape",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "llmstack_bot_turns_in_flight", "Turns running in this process", registry=self.registry
        )
        self.telegram_errors = Counter(
            "llmstack_bot_telegram_errors",
            "Bot API calls that failed, by method and kind (retry_after, bad_request, forbidden, server, network)",
            ["method", "kind"],
            registry=self.registry,
        )
        self.reply_latency = Histogram(
            "llmstack_bot_reply_latency_seconds",
            "From a turn's start (its update leased) to its end, by outcome",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.gateway_latency = Histogram(
            "llmstack_bot_gateway_call_seconds",
            "One chat completion through the gateway, by outcome (ok, budget, unavailable)",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def set_queue(self, counts: Mapping[str, int], in_flight: int) -> None:
        """The inbox's counts by status (``InboxRepository.counts``) and this process's running turns."""
        self.queue.set(sum(counts.get(state, 0) for state in QUEUED_STATES))
        self.in_flight.set(in_flight)

    @contextmanager
    def telegram_call(self, method: str) -> Iterator[None]:
        """Around one Bot API call (telegram_calls.TelegramCalls): a failure is counted by method and kind."""
        try:
            yield
        except TelegramAPIError as exc:
            self.telegram_errors.labels(method, error_kind(exc)).inc()
            raise

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


#: the webhook's answers (app.py) by status code; a 200 says in its body what happened to the update
_WEBHOOK_STATUS = {403: "forbidden", 413: "too_large", 400: "malformed", 503: "unavailable"}


def webhook_outcome(status: int, body: bytes) -> str:
    """What the webhook did with one delivery, from its answer: a small fixed label set."""
    if status != 200:
        return _WEBHOOK_STATUS.get(status, "other")
    try:
        answer = json.loads(body)
    except ValueError:
        return "other"
    if "rejected" in answer:
        return "rejected"
    if "ignored" in answer:
        return "ignored"
    return "duplicate" if answer.get("duplicate") else "accepted"


def scrape_allowed(authorization: str | None, secret: str) -> bool:
    """``Authorization: Bearer <secret>``; an empty secret (local mode without one) allows nobody."""
    if not secret or not authorization or not authorization.startswith("Bearer "):
        return False
    return hmac.compare_digest(authorization[len("Bearer ") :].encode(), secret.encode())


def error_kind(exc: TelegramAPIError) -> str:
    """A small, fixed label set (aiogram.exceptions), so a flood of errors cannot grow the series count."""
    for kind, cls in (
        ("retry_after", TelegramRetryAfter),
        ("bad_request", TelegramBadRequest),
        ("forbidden", TelegramForbiddenError),
        ("server", TelegramServerError),
        ("network", TelegramNetworkError),
    ):
        if isinstance(exc, cls):
            return kind
    return "other"


class Stopwatch:
    """Seconds since it was made (monotonic), for the latency histograms."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self.start
