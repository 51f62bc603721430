"""The bot's serving check against the real bot, started with the variables the program sets on Railway
(references resolved as Railway would, loopback addresses instead of Railway's): it passes, fails with the
bot's own reason while its database is unreachable, and passes again when the database is back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from infra.dryrun import run_program, stack_config, unwrap
from infra.localgateway import LocalBot
from infra.serving import NotServingError, bot_probes, wait_until_serving
from infra.simulator.telegram import FakeTelegram
from tests.conftest import STACKS
from tests.fakes.tcp_proxy import TcpProxy

TOKEN = "123456789:" + "B" * 35
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def program_variables() -> dict[str, str]:
    config, secret_keys = stack_config(
        STACKS / "Pulumi.dev.yaml", {"TELEGRAM-BOT-TOKEN": TOKEN, "TELEGRAM-WEBHOOK-SECRET": "w" * 48}
    )
    result = run_program("dev", config, secret_keys)
    assert result.error is None, result.error
    return {k: str(v) for k, v in unwrap(result.named("bot-app-variables").inputs["variables"]).items()}


@pytest.fixture(scope="module")
def telegram() -> Iterator[FakeTelegram]:
    fake = FakeTelegram(TOKEN)
    with fake.running():
        yield fake


def bot_env(telegram: FakeTelegram, database_url: str) -> dict[str, str]:
    env = program_variables()
    env.update(
        DATABASE_URL=database_url,  # ${{postgres.DATABASE_URL}} on Railway
        GATEWAY_BASE_URL="http://127.0.0.1:9",  # ${{gateway.RAILWAY_PRIVATE_DOMAIN}}: not needed for /health
        TELEGRAM_API_BASE=telegram.api_base,
        BIND_HOST="127.0.0.1",  # 0.0.0.0 on Railway; loopback here
    )
    env.pop("PORT")  # LocalBot picks a free one
    return env


TIMING = {"interval_s": 0.2, "request_timeout_s": 10.0}


@pytest.fixture
def database_url() -> Iterator[str]:
    """A schema of its own in the machine's Postgres (as the bot's own tests do)."""
    schema = f"serving_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=2) as connection:
            connection.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError:
        pytest.skip("needs the Postgres on 127.0.0.1:5432")
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with psycopg.connect(POSTGRES, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {schema} CASCADE")


def test_the_bot_with_the_programs_variables_serves_and_says_why_not_without_its_database(
    telegram: FakeTelegram, database_url: str
) -> None:
    with TcpProxy("127.0.0.1", 5432).running() as proxy:
        bot = LocalBot(bot_env(telegram, proxy.rewrite(database_url)))
        with bot.running():
            serving = wait_until_serving(bot.url, bot_probes(), key=None, timeout_s=30.0, **TIMING)
            assert serving == {"bot health": 1}
            proxy.down()  # the database goes away (connection refused)
            with pytest.raises(NotServingError) as caught:
                wait_until_serving(bot.url, bot_probes(), key=None, timeout_s=1.0, **TIMING)
            proxy.up()  # and comes back: the bot serves again without a restart
            assert wait_until_serving(bot.url, bot_probes(), key=None, timeout_s=30.0, **TIMING)
    message = str(caught.value)
    assert 'serving check "bot health" failed' in message and "HTTP 503, expected 200" in message
    assert '"status":"unavailable"' in message
    assert "what to do: 503: the bot cannot reach its database" in message
