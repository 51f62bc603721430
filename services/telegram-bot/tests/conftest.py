"""Fixtures: SQLite or the real Postgres (a schema per test), the fake Bot API, the fake gateway."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_harness import GATEWAY_KEY, POSTGRES, TOKEN, postgres_available

from infra.simulator.telegram import FakeTelegram
from tests.fakes.gateway_api import FakeGateway


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
        return
    if not postgres_available():
        pytest.skip("needs the PostgreSQL on 127.0.0.1:5432")
    import psycopg

    schema = f"bot_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {schema}")
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    with fake.running():
        yield fake


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(GATEWAY_KEY)
    with fake.running():
        yield fake
