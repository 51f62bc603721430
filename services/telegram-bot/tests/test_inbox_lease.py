"""Only the lease holder records how a turn ended (repositories.InboxRepository), on SQLite and the real Postgres.

The case: process A's lease expires mid-turn (its renewal failed: a database blip), process B claims the update
and answers it. A's late "done" (or retry) must not overwrite B's lease, or B's turn would be marked finished,
or handed to a third process, while it still runs.
"""

from __future__ import annotations

import time

from llmstack_bot.db import make_engine, migrate, sessions
from llmstack_bot.repositories import InboxRepository
from sqlalchemy import Engine, text

PAYLOAD = {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 42, "type": "private"}}}


def inbox_with_one_update(database_url: str) -> tuple[InboxRepository, Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    inbox = InboxRepository(sessions(engine))
    assert inbox.accept(7, 42, 42, PAYLOAD)
    return inbox, engine


def test_a_late_finish_from_a_process_that_lost_its_lease_changes_nothing(database_url: str) -> None:
    inbox, engine = inbox_with_one_update(database_url)
    (first,) = inbox.claim(1, lease_s=0.05, owner="a")
    time.sleep(0.2)  # a's lease runs out without a renewal
    (second,) = inbox.claim(1, lease_s=60, owner="b")
    assert (first.update_id, second.update_id, second.attempts) == (7, 7, 2)
    assert inbox.finish(7, "a", "done") is False
    assert inbox.release(7, "a", 5.0, "a's retry") is False
    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, lease_owner, error FROM inbox")).one()
    assert tuple(row) == ("processing", "b", None)  # still b's turn
    assert inbox.finish(7, "b", "done") is True
    assert inbox.counts() == {"done": 1}


def test_the_holder_releases_for_a_retry_and_the_next_claim_waits_for_it(database_url: str) -> None:
    inbox, _ = inbox_with_one_update(database_url)
    inbox.claim(1, lease_s=60, owner="a")
    assert inbox.release(7, "a", 60.0, "gateway 503") is True
    assert inbox.claim(1, lease_s=60, owner="b") == []  # not before the retry's delay
    assert inbox.finish(7, "a", "done") is False  # released: a holds it no more
