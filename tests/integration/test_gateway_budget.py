"""The hard daily budget through the real proxy: 2 workers sharing one counter in the machine's Redis."""

from __future__ import annotations

import concurrent.futures
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.simulator import ProviderSimulator
from tests.fakes.alert_receiver import AlertReceiver
from tests.integration.conftest import (
    REDIS,
    chat,
    error_message,
    needs_redis,
    redis_client,
    stack_spec,
    start_gateway,
)

# one request for claude-sonnet with max_tokens=16 reserves ~$0.000294 and costs $0.00027 on the simulator
CAP_USD = 0.0015
SPEC = stack_spec(
    "prod",
    gateway={"replicas": 1, "workers": 2, "shared_state": "redis"},
    budget={"daily_usd": CAP_USD, "alert_thresholds": [0.5, 0.8, 1.0], "timezone": "Europe/Berlin"},
)


pytestmark = needs_redis


@pytest.fixture(scope="module")
def prefix() -> Iterator[str]:
    value = f"llmstack-test-{uuid.uuid4().hex[:12]}"
    yield value
    client = redis_client()
    for key in client.scan_iter(f"*{value}*"):
        client.delete(key)


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clock") / "now"
    path.write_text("2026-12-01T12:00:00+01:00")
    return path


@pytest.fixture(scope="module")
def alerts() -> Iterator[AlertReceiver]:
    with AlertReceiver().running() as receiver:
        yield receiver


def budget_env(prefix: str, clock: Path, alerts: AlertReceiver, **extra: str) -> dict[str, str]:
    return {
        "REDIS_HOST": REDIS["host"],
        "REDIS_PORT": str(REDIS["port"]),
        "BUDGET_KEY_PREFIX": prefix,
        "LLMSTACK_BUDGET_CLOCK_FILE": str(clock),
        "BUDGET_ALERT_URL": alerts.url,
        "BUDGET_ALERT_SECRET": "alert-secret-for-tests",
        **extra,
    }


def spent_usd(prefix: str, day: str) -> tuple[float, float]:
    client = redis_client()
    tag = f"{{{prefix}:{day}}}"
    spent, reserved = client.mget(f"budget:{tag}:spent", f"budget:{tag}:reserved")
    return int(spent or 0) / 1e9, int(reserved or 0) / 1e9


def test_the_cap_holds_under_concurrency_across_workers_and_restarts(
    simulator: ProviderSimulator, prefix: str, clock: Path, alerts: AlertReceiver
) -> None:
    simulator.reset()
    simulator.healthy_delay_ms = 300  # requests overlap, so reservations race for real
    try:
        gateway = start_gateway(SPEC, simulator, workers=2, env=budget_env(prefix, clock, alerts))
        with gateway.running():
            assert httpx.get(f"{gateway.url}/health/ready", timeout=10).json()["budget_counter"] == "redis"
            with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
                responses = list(pool.map(lambda _: chat(gateway, "claude-sonnet", max_tokens=16), range(40)))
            admitted = [r for r in responses if r.status_code == 200]
            refused = [r for r in responses if r.status_code == 429]
            assert len(admitted) + len(refused) == 40, [r.status_code for r in responses]
            assert 1 <= len(admitted) <= int(CAP_USD / 0.00027)
            spent, reserved = spent_usd(prefix, "2026-12-01")
            assert spent <= CAP_USD and reserved == 0
            assert spent == pytest.approx(sum(float(r.headers["x-litellm-response-cost"]) for r in admitted))
            assert len(simulator.requests()) == len(admitted)  # a refused request never reached a provider

            # once spent: every request gets 429 with the message, and says when the budget resets
            for _ in range(3):
                response = chat(gateway, "simple", max_tokens=16)
                assert response.status_code == 429
                message = error_message(response)
                assert "daily budget of $0.0015 is spent" in message
                assert "resets at 2026-12-02T00:00:00+01:00 (Europe/Berlin)" in message

        # a restarted gateway keeps the day's spend (it lives in Redis)
        gateway = start_gateway(SPEC, simulator, workers=2, env=budget_env(prefix, clock, alerts))
        with gateway.running():
            assert chat(gateway, "claude-sonnet", max_tokens=16).status_code == 429
            # a new day in the budget's time zone resets it
            clock.write_text("2026-12-02T00:00:05+01:00")
            response = chat(gateway, "claude-sonnet", max_tokens=16)
            assert response.status_code == 200, response.text
            assert spent_usd(prefix, "2026-12-02")[0] > 0
    finally:
        simulator.healthy_delay_ms = 0

    # alerts: each threshold of the first day exactly once, with spend, cap and threshold
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len([a for a in alerts.alerts if a["day"] == "2026-12-01"]) < 3:
        time.sleep(0.1)
    first_day = [a for a in alerts.alerts if a["day"] == "2026-12-01"]
    assert sorted(a["threshold"] for a in first_day) == [0.5, 0.8, 1.0]
    assert all(a["cap_usd"] == CAP_USD and a["stack"] == "prod" and "spent_usd" in a for a in first_day)
    assert set(alerts.secrets) == {"alert-secret-for-tests"}


def test_redis_unreachable_fails_closed_and_readiness_says_so(
    simulator: ProviderSimulator, prefix: str, clock: Path, alerts: AlertReceiver
) -> None:
    from infra.localgateway import free_port

    simulator.reset()
    env = budget_env(prefix, clock, alerts, REDIS_PORT=str(free_port()))  # nothing listens there
    gateway = start_gateway(SPEC, simulator, env=env)
    with gateway.running():
        ready = httpx.get(f"{gateway.url}/health/ready", timeout=10)
        assert ready.status_code == 503 and "Redis unreachable" in ready.json()["reason"]
        assert httpx.get(f"{gateway.url}/health/liveliness", timeout=10).status_code == 200
        response = chat(gateway, "claude-sonnet", max_tokens=16)
        assert response.status_code == 503
        assert "fail closed" in error_message(response)
        assert simulator.requests() == []
