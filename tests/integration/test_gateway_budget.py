"""The hard daily budget through the real proxy: two gateway processes x two workers sharing one counter in the
machine's Redis, under mixed streamed and non-streamed load; a killed gateway's hold expiring; restarts."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.localgateway import LocalGateway
from infra.simulator import Behavior, ProviderSimulator
from tests.fakes.alert_receiver import AlertReceiver
from tests.integration.conftest import (
    MASTER_KEY,
    REDIS,
    RedisBudget,
    chat,
    error_message,
    needs_redis,
    stack_spec,
    start_gateway,
)

# one request for claude-sonnet with max_tokens=16 reserves ~$0.0003 and costs $0.000264-0.00027 on the simulator
CAP_USD = 0.0015
SPEC = stack_spec(
    "prod",
    gateway={"replicas": 2, "workers": 2, "shared_state": "redis"},
    budget={"daily_usd": CAP_USD, "alert_thresholds": [0.5, 0.8, 1.0], "timezone": "Europe/Berlin"},
    clients={"tools": {"daily_usd": CAP_USD / 2}},  # the catalog's $1 share would exceed this tiny cap
)
SINGLE = stack_spec(
    "prod",
    gateway={"replicas": 1, "workers": 1, "shared_state": "redis"},
    budget={"daily_usd": CAP_USD, "timezone": "Europe/Berlin"},
    clients={"tools": {"daily_usd": CAP_USD / 2}},
)
DAY = "2026-12-01"

pytestmark = needs_redis


@pytest.fixture
def budget() -> Iterator[RedisBudget]:
    counter = RedisBudget(f"llmstack-test-{uuid.uuid4().hex[:12]}")
    yield counter
    counter.forget()


@pytest.fixture
def clock(tmp_path: Path) -> Path:
    path = tmp_path / "now"
    path.write_text(f"{DAY}T12:00:00+01:00")
    return path


@pytest.fixture(scope="module")
def alerts() -> Iterator[AlertReceiver]:
    with AlertReceiver().running() as receiver:
        yield receiver


def budget_env(prefix: str, clock: Path, alerts: AlertReceiver | None = None, **extra: str) -> dict[str, str]:
    alerting = (
        {"BUDGET_ALERT_URL": alerts.url, "BUDGET_ALERT_SECRET": "alert-secret-for-tests"} if alerts else {}
    )
    return {
        "REDIS_HOST": REDIS["host"],
        "REDIS_PORT": str(REDIS["port"]),
        "BUDGET_KEY_PREFIX": prefix,
        "LLMSTACK_BUDGET_CLOCK_FILE": str(clock),
        **alerting,
        **extra,
    }


def stream(gateway: LocalGateway, model: str, **body: object) -> tuple[int, str]:
    """A streamed chat completion read to its end; (status, body text)."""
    payload = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True, **body}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream(
        "POST", f"{gateway.url}/v1/chat/completions", json=payload, headers=headers, timeout=60
    ) as r:
        return r.status_code, r.read().decode()


def start_all(*gateways: LocalGateway) -> None:
    """Starts the gateways side by side (each start waits for its workers)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(gateways)) as pool:
        list(pool.map(LocalGateway.start, gateways))


def test_the_cap_holds_across_two_gateways_x_two_workers_under_mixed_load(
    simulator: ProviderSimulator, budget: RedisBudget, clock: Path, alerts: AlertReceiver
) -> None:
    simulator.reset()
    simulator.healthy_delay_ms = 300  # requests overlap, so reservations race for real
    gateways = [
        start_gateway(SPEC, simulator, workers=2, env=budget_env(budget.prefix, clock, alerts)) for _ in "ab"
    ]
    for gateway in gateways:
        gateway.startup_timeout_s = 240  # four workers importing LiteLLM at once on a shared 2-core box
    try:
        start_all(*gateways)
        assert httpx.get(f"{gateways[0].url}/health/ready", timeout=10).json()["budget_counter"] == "redis"

        def one(i: int) -> tuple[int, str]:
            gateway = gateways[i % 2]
            if i % 4 < 2:
                return stream(gateway, "claude-sonnet", max_tokens=16)
            response = chat(gateway, "claude-sonnet", max_tokens=16)
            return response.status_code, response.text

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(one, range(40)))
        statuses = [status for status, _ in results]
        assert set(statuses) <= {200, 429}, statuses
        assert budget.wait_until_no_hold(DAY) == 0 and budget.reserved_nano(DAY) == 0
        served = [r for r in simulator.requests() if r.status == 200]
        assert len(served) == statuses.count(200)  # a refused request never reached a provider
        spent = budget.spent_nano(DAY) / 1e9
        assert spent <= CAP_USD
        assert spent >= 0.6 * CAP_USD  # the cap is not wasted on stale holds: most of it paid for answers
        assert spent == pytest.approx(sum(r.input_tokens * 3e-6 + r.output_tokens * 1.5e-5 for r in served))

        # once spent: 429 with spent, held, cap and the reset time in the budget's zone
        response = chat(gateways[1], "simple", max_tokens=16)
        assert response.status_code == 429
        message = error_message(response)
        assert f"the daily budget of ${CAP_USD:g} cannot cover this request" in message
        assert f"${spent:.6f} spent, $0.000000 held by requests in flight" in message
        assert "it resets at 2026-12-02T00:00:00+01:00 (Europe/Berlin)" in message
    finally:
        simulator.healthy_delay_ms = 0
        for gateway in gateways:
            gateway.stop()

    # alerts: each threshold of the day exactly once, with spend, cap and threshold
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len([a for a in alerts.alerts if a["day"] == DAY]) < 3:
        time.sleep(0.1)
    first_day = [a for a in alerts.alerts if a["day"] == DAY]
    assert sorted(a["threshold"] for a in first_day) == [0.5, 0.8, 1.0]
    assert all(a["cap_usd"] == CAP_USD and a["stack"] == "prod" and "spent_usd" in a for a in first_day)
    assert set(alerts.secrets) == {"alert-secret-for-tests"}


def test_a_killed_gateways_hold_expires_and_a_restart_keeps_the_days_spend(
    simulator: ProviderSimulator, budget: RedisBudget, clock: Path
) -> None:
    simulator.reset()
    env = budget_env(budget.prefix, clock, BUDGET_HOLD_EXPIRY_S="4")
    gateway = start_gateway(SINGLE, simulator, env=env)
    gateway.start()
    try:
        assert chat(gateway, "claude-sonnet", max_tokens=16).status_code == 200
        spent_before = budget.spent_nano(DAY)
        assert spent_before > 0
        # a stream that stalls mid-way holds its reservation; then the whole gateway is SIGKILLed
        simulator.set("anthropic", Behavior(mode="stall", stall_after=2))
        # max_tokens=60 holds ~$0.00105 of the $0.0015 cap, so it blocks the next request while it lasts
        worker = threading.Thread(
            target=lambda: _ignore_errors(stream, gateway, "claude-sonnet", max_tokens=60)
        )
        worker.start()
        deadline = time.monotonic() + 10
        while budget.open_holds(DAY) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert budget.open_holds(DAY) == 1
        blocked = chat(gateway, "claude-sonnet", max_tokens=16)
        assert blocked.status_code == 429 and "held by requests in flight" in error_message(blocked)
        gateway.kill()
        worker.join(timeout=10)
    finally:
        gateway.stop()
    simulator.reset()
    assert budget.open_holds(DAY) == 1  # nobody is left to settle it

    restarted = start_gateway(SINGLE, simulator, env=env)
    with restarted.running():
        assert budget.spent_nano(DAY) == spent_before  # the day's spend survived the crash and the restart
        time.sleep(max(0.0, 4.2 - _hold_age_s(budget)))
        response = chat(restarted, "claude-sonnet", max_tokens=16)
        assert response.status_code == 200, response.text  # the expired hold no longer blocks the day
        assert budget.open_holds(DAY) == 0 and budget.reserved_nano(DAY) == 0
        assert budget.spent_nano(DAY) == spent_before + round(
            float(response.headers["x-litellm-response-cost"]) * 1e9
        )


def _hold_age_s(budget: RedisBudget) -> float:
    starts = budget.client.hgetall(budget.key(DAY, "starts"))
    now_s, now_us = budget.client.time()
    oldest = min(int(v) for v in starts.values()) if starts else now_s * 1000
    return (now_s * 1000 + now_us // 1000 - oldest) / 1000


def _ignore_errors(fn: object, *args: object, **kwargs: object) -> None:
    try:
        fn(*args, **kwargs)  # type: ignore[operator]
    except httpx.HTTPError:
        return


def test_redis_unreachable_fails_closed_and_readiness_says_so(
    simulator: ProviderSimulator, budget: RedisBudget, clock: Path
) -> None:
    from infra.localgateway import free_port

    simulator.reset()
    env = budget_env(budget.prefix, clock, REDIS_PORT=str(free_port()))  # nothing listens there
    gateway = start_gateway(SINGLE, simulator, env=env)
    with gateway.running():
        ready = httpx.get(f"{gateway.url}/health/ready", timeout=10)
        assert ready.status_code == 503 and "Redis unreachable" in ready.json()["reason"]
        assert httpx.get(f"{gateway.url}/health/liveliness", timeout=10).status_code == 200
        response = chat(gateway, "claude-sonnet", max_tokens=16)
        assert response.status_code == 503
        assert "fail closed" in error_message(response)
        assert simulator.requests() == []
        # what the operator's views say meanwhile: /budget cannot answer, /metrics says the counter is down
        operator = {"Authorization": f"Bearer {MASTER_KEY}"}
        report = httpx.get(f"{gateway.url}/budget", headers=operator, timeout=10)
        assert report.status_code == 503 and "the budget counter is unreachable" in report.text
        scraped = httpx.get(f"{gateway.url}/metrics", headers=operator, timeout=10)
        assert scraped.status_code == 200
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
        }
        assert samples["llmstack_budget_counter_up"] == 0
        assert "llmstack_budget_spent_usd" not in samples  # unknown, not zero


def test_a_deployed_gateway_refuses_to_start_with_an_in_memory_counter(simulator: ProviderSimulator) -> None:
    from infra.localgateway import GatewayStartError
    from infra.render import with_in_memory_counter

    gateway = start_gateway(with_in_memory_counter(SINGLE), simulator, env={"LLMSTACK_LOCAL": ""})
    gateway.startup_timeout_s = 30
    with pytest.raises(GatewayStartError) as caught:
        gateway.start()
    assert "the gateway refuses to start: the rendered config keeps the budget counter in memory" in str(
        caught.value
    )
