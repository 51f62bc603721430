"""Redeploys and crashes of the real process (``python -m llmstack_bot.app``) in the middle of a multi-part
answer: SIGTERM hands the turn back within the stop timeout, SIGKILL leaves a lease that expires in seconds, and
the next process resumes at the first part not delivered. The model is asked once; a part is repeated at most
once per interruption (the documented window: Telegram accepted it, the record was not written yet).

The SIGTERM/SIGKILL scenario runs on both databases (a local run on SQLite restarts too); two processes at once
run on Postgres only, the database Railway gives the bot when a deploy overlaps the old process (SQLite is the
local single-process store)."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest
from bot_harness import bot_settings, message, start_bot, wait_for
from bot_process import BotProcess, bot_environment
from llmstack_bot.db import make_engine, sessions
from llmstack_bot.repositories import HistoryRepository, InboxRepository
from llmstack_bot.telegram import split_message

from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway

#: a question the fake gateway echoes back: an answer of several distinct parts
QUESTION = "\n\n".join(f"Paragraph {i:03d}: " + "the quick brown fox jumps. " * 12 for i in range(90))
STOP_TIMEOUT_S = 2.0
#: the database_url fixture narrowed to Postgres (see the module docstring)
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@pytest.fixture
def processes() -> Iterator[list[BotProcess]]:
    started: list[BotProcess] = []
    yield started
    for process in started:
        process.close()


def without_one_repeat_per_interruption(delivered: list[str], parts: list[str], interruptions: int) -> bool:
    """``delivered`` is ``parts`` in order, with at most ``interruptions`` parts sent twice in a row."""
    deduplicated = [t for i, t in enumerate(delivered) if i == 0 or delivered[i - 1] != t]
    return deduplicated == parts and len(delivered) - len(parts) <= interruptions


def test_sigterm_then_sigkill_mid_answer_then_restart_answers_once(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway, processes: list[BotProcess]
) -> None:
    env = bot_environment(
        database_url,
        telegram.api_base,
        gateway.url,
        shutdown_timeout_s=STOP_TIMEOUT_S,
        max_question_chars=len(QUESTION),
    )
    parts = split_message(f"echo: {QUESTION.strip()}")  # the bot strips the question
    assert len(parts) >= 8
    telegram.delay("sendMessage", 0.7)  # a slow Telegram: the answer takes seconds to deliver

    def delivered() -> list[str]:
        return [m["text"] for m in telegram.delivered(1001)]

    first = BotProcess(env)
    processes.append(first)
    first.wait_ready()
    assert first.post(message(1, 1001, QUESTION)).status_code == 200
    wait_for(lambda: len(delivered()) >= 1, 30)
    first.signal(signal.SIGTERM)  # a redeploy
    took = first.wait_exit(STOP_TIMEOUT_S + 3)
    assert took < STOP_TIMEOUT_S + 1.5, f"SIGTERM took {took:.1f} s"
    assert len(delivered()) < len(parts), "the answer finished before the stop: nothing was handed back"

    settings = bot_settings(database_url, telegram, gateway.url)
    engine = make_engine(settings.sqlalchemy_url())
    inbox = InboxRepository(sessions(engine))
    assert inbox.get(1) == {"status": "pending", "attempts": 0, "error": None}  # handed back, at once

    second = BotProcess(env)
    processes.append(second)
    second.wait_ready()
    before = len(delivered())
    wait_for(lambda: len(delivered()) > before, 30)
    second.signal(signal.SIGKILL)  # a crash: no chance to hand anything back
    second.wait_exit(10)
    assert len(delivered()) < len(parts) + 2

    # the next process: the same code in this test's process (one interpreter start fewer: seconds each)
    third = start_bot(bot_settings(database_url, telegram, gateway.url, max_question_chars=len(QUESTION)))
    started, before = time.monotonic(), len(delivered())
    wait_for(lambda: len(delivered()) > before, 30)
    resumed = time.monotonic() - started
    # the dead process's lease (2 s here) expires, then the next part goes out (0.7 s)
    assert resumed < 8, f"the interrupted turn was resumed {resumed:.0f} s after the restart"
    wait_for(lambda: inbox.get(1)["status"] == "done", 30)  # type: ignore[index]
    sequence = [parts.index(t) if t in parts else -1 for t in delivered()]  # which part each message was
    assert without_one_repeat_per_interruption(delivered(), parts, interruptions=2), (
        f"{sequence} of {len(parts)} parts"
    )
    assert len(gateway.requests) == 1, "the model was asked again"
    history = HistoryRepository(sessions(engine)).recent(1001, 10**6)
    assert [m["role"] for m in history] == ["user", "assistant"]
    third.stop()
    engine.dispose()


@ON_POSTGRES
def test_two_processes_on_one_database_answer_each_turn_once(
    database_url: str, telegram: FakeTelegram, gateway: FakeGateway
) -> None:
    """A deploy overlaps the old and the new process (Railway starts the new one before stopping the old): both
    take webhooks and lease from one inbox. Each update is answered once, one turn at a time per chat."""
    gateway.delay_s = 0.05  # turns overlap, so two processes leasing one chat's updates would be seen
    users = [1001, 1002, *range(3000, 3004)]
    # 3 slots each for 6 chats: neither process can hold every chat, so both lease from the start
    settings = bot_settings(database_url, telegram, gateway.url, worker_concurrency=3)
    settings.allowed_user_ids.extend(users[2:])
    bots = [start_bot(settings), start_bot(settings)]
    served: list[list[int]] = [[], []]
    for bot, mine in zip(bots, served, strict=True):
        # which process ran each turn: the worker's process callback, wrapped (test-side bookkeeping only)
        worker, original = bot.app.state.worker, bot.app.state.worker._process

        async def counted(item: Any, original: Any = original, mine: list[int] = mine) -> None:
            mine.append(item.update_id)
            await original(item)

        worker._process = counted
    try:
        updates = [message(500 + i, users[i % 6], f"question {i}") for i in range(36)]
        # every update reaches both processes, as when Telegram redelivers after a timeout during a deploy
        posts = [(bot, u) for u in updates for bot in bots]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda p: p[0].post(p[1]).status_code, posts))
        assert set(statuses) == {200}
        wait_for(lambda: bots[0].app.state.inbox.counts() == {"done": 36}, timeout=60)
        answered = sorted(m["text"] for m in telegram.sent())
        assert answered == sorted(f"echo: question {i}" for i in range(36))
        assert len(gateway.requests) == 36, "a turn asked the model twice"
        assert set(gateway.max_in_flight.values()) == {1}, "two turns of one chat ran at once"
        assert sorted(served[0] + served[1]) == [u["update_id"] for u in updates], "a turn ran twice"
        assert served[0] and served[1], f"one process served everything: {served}"
    finally:
        for bot in bots:
            bot.stop()
