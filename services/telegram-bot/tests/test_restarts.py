"""Redeploys and crashes of the real process (``python -m llmstack_bot.app``) in the middle of a multi-part
answer: SIGTERM hands the turn back within the stop timeout, SIGKILL leaves a lease that expires in seconds, and
the next process resumes at the first part not delivered. The model is asked once; a part is repeated at most
once per interruption (the documented window: Telegram accepted it, the record was not written yet)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

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
