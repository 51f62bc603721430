"""The real LiteLLM proxy (pinned 1.108.7) running `llmstack render`'s config against the provider simulator."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from infra.catalog import StackSpec, load_stack
from infra.checks import has_errors, run_checks
from infra.localgateway import LocalBot, LocalGateway
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator
from infra.simulator.telegram import FakeTelegram
from tests.conftest import STACKS, TODAY

MASTER_KEY = "sk-llmstack-test-" + uuid.uuid4().hex
#: the machine's Redis; shared-state tests use a key prefix of their own
REDIS = {"host": "127.0.0.1", "port": 6379}


def redis_client() -> redis.Redis:
    return redis.Redis(host=REDIS["host"], port=int(REDIS["port"]), socket_connect_timeout=1)


def redis_available() -> bool:
    try:
        return bool(redis_client().ping())
    except redis.RedisError:
        return False


needs_redis = pytest.mark.skipif(not redis_available(), reason="needs the Redis on 127.0.0.1:6379")
PROVIDER_ENV = {"ANTHROPIC_API_KEY": "sim-key", "OPENAI_API_KEY": "sim-key", "GEMINI_API_KEY": "sim-key"}


def stack_spec(stack: str, **overrides: Any) -> StackSpec:
    """A shipped stack, with ``llmstack:<key>`` overrides on top of its stack file (as `pulumi config set` would)."""
    config = (yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text()) or {}).get("config") or {}
    for key, value in overrides.items():
        config[f"llmstack:{key}"] = value
    result = load_stack(stack, stacks_dir=STACKS, stack_config=config)
    assert result.spec is not None, [f.format() for f in result.findings]
    findings = run_checks(result.spec, TODAY)
    assert not has_errors(findings), [f.format() for f in findings]
    return result.spec


def chat(
    gateway: LocalGateway, model: str, *, key: str | None = MASTER_KEY, timeout: float = 60, **body: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}".strip()} if key is not None else {}
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], **body}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=payload, headers=headers, timeout=timeout)


def error_message(response: httpx.Response) -> str:
    try:
        return str(json.loads(response.text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text


def tell_bot(
    bot: LocalBot, telegram: FakeTelegram, *, user: int, text: str, update_id: int, timeout_s: float = 60
) -> list[dict[str, Any]]:
    """Post ``text`` from ``user`` in their private chat to a running bot's webhook, as Telegram does, and wait for
    the fake Telegram to receive the bot's answer: the messages the bot sent that chat since (none: not in time)."""
    before = len(telegram.sent(user))
    # an Update holding a Message with the fields the Bot API marks required (https://core.telegram.org/bots/api,
    # the Update, Message, User and Chat objects); a private chat's id is its user's
    update = {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "text": text,
            "from": {"id": user, "is_bot": False, "first_name": "tester"},
            "chat": {"id": user, "type": "private"},
        },
    }
    response = httpx.post(
        f"{bot.url}/telegram/webhook",
        json=update,
        # the secret_token given to setWebhook comes back in this header on every delivery (Bot API, setWebhook)
        headers={"X-Telegram-Bot-Api-Secret-Token": bot.env["TELEGRAM_WEBHOOK_SECRET"]},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + timeout_s
    while len(telegram.sent(user)) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    return telegram.sent(user)[before:]


@pytest.fixture(scope="module")
def simulator() -> Iterator[ProviderSimulator]:
    with ProviderSimulator().running() as sim:
        yield sim


def start_gateway(
    spec: StackSpec, simulator: ProviderSimulator, *, workers: int = 1, env: dict[str, str] | None = None
) -> LocalGateway:
    config = render_gateway_config(spec, simulator.api_bases())
    return LocalGateway(config, MASTER_KEY, workers=workers, env={**PROVIDER_ENV, **(env or {})})


def deployment_prices(config_text: str) -> dict[str, tuple[float, float]]:
    """The provider's model id (as the simulator logs it) -> (input, output) USD per token, from a rendered config."""
    prices: dict[str, tuple[float, float]] = {}
    for deployment in yaml.safe_load(config_text)["model_list"]:
        params = deployment["litellm_params"]
        prices[params["model"].split("/", 1)[1]] = (
            float(params["input_cost_per_token"]),
            float(params["output_cost_per_token"]),
        )
    return prices


class RedisBudget:
    """Reads the gateway's counter in the machine's Redis (the keys of llmstack_gateway/counter.py)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.client = redis_client()

    @classmethod
    @contextmanager
    def fresh(cls, name: str) -> Iterator[RedisBudget]:
        """A counter under a prefix no other run shares (``<name>-<random>``), its keys deleted afterwards."""
        budget = cls(f"{name}-{uuid.uuid4().hex[:12]}")
        try:
            yield budget
        finally:
            budget.forget()

    def gateway_env(self, clock: Path | None = None) -> dict[str, str]:
        """What a gateway needs to keep its counter here (llmstack_gateway/settings.py reads REDIS_HOST, REDIS_PORT
        and BUDGET_KEY_PREFIX); with ``clock``, the file its budget day is read from (LLMSTACK_BUDGET_CLOCK_FILE)."""
        env = {
            "REDIS_HOST": REDIS["host"],
            "REDIS_PORT": str(REDIS["port"]),
            "BUDGET_KEY_PREFIX": self.prefix,
        }
        return env if clock is None else {**env, "LLMSTACK_BUDGET_CLOCK_FILE": str(clock)}

    def key(self, day: str, name: str) -> str:
        return f"budget:{{{self.prefix}:{day}}}:{name}"

    def spent_nano(self, day: str) -> int:
        return int(self.client.get(self.key(day, "spent")) or 0)

    def reserved_nano(self, day: str) -> int:
        return int(self.client.get(self.key(day, "reserved")) or 0)

    def open_holds(self, day: str) -> int:
        return int(self.client.hlen(self.key(day, "holds")))

    def wait_until_no_hold(self, day: str, timeout_s: float = 5.0) -> int:
        """Open holds left after waiting: a stream settles right after its last frame reached the client."""
        deadline = time.monotonic() + timeout_s
        while self.open_holds(day) and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.open_holds(day)

    def forget(self) -> None:
        for key in self.client.scan_iter(f"*{self.prefix}*"):
            self.client.delete(key)
