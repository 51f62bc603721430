"""The public surface of the running proxy: every route LiteLLM mounts (read from the app's router at runtime) is
called with no key, a client key and the master key; only the allow-list answers, and no call reaches a provider
that the budget did not reserve and record (the simulator's call log against the counter in Redis)."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.catalog.models import Client
from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator
from tests.integration.conftest import (
    MASTER_KEY,
    PROVIDER_ENV,
    REDIS,
    RedisBudget,
    needs_redis,
    stack_spec,
)

pytestmark = needs_redis

SPEC = stack_spec("dev", budget={"daily_usd": 50})
KEYS = {name: "sk-client-" + secrets.token_hex(16) for name in SPEC.catalog.clients}
BOT = KEYS["bot"]
#: what each kind of caller sends
CALLERS: dict[str, dict[str, str]] = {
    "none": {},
    "client": {"Authorization": f"Bearer {BOT}"},
    "master": {"Authorization": f"Bearer {MASTER_KEY}"},
}
#: a body that would start a generation on any chat-like route, and the forms the other two APIs take
BODY = {"model": "simple", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]}
BODIES = {
    "completions": {"model": "simple", "max_tokens": 4, "prompt": "hi"},
    "responses": {"model": "simple", "max_output_tokens": 16, "input": "hi"},
}
#: the allow-list (llmstack_gateway/surface.py): path -> caller -> the statuses it may answer
COMPLETIONS = {"none": {401}, "client": {200}, "master": {403}}
EXPECTED: dict[tuple[str, str], dict[str, set[int]]] = {
    **{("POST", p): COMPLETIONS for p in ("/v1/chat/completions", "/chat/completions")},
    **{("POST", p): COMPLETIONS for p in ("/v1/completions", "/completions")},
    **{("POST", p): COMPLETIONS for p in ("/v1/messages", "/messages")},
    **{("POST", p): COMPLETIONS for p in ("/v1/responses", "/responses")},
    **{("GET", p): {"none": {401}, "client": {200}, "master": {200}} for p in ("/v1/models", "/models")},
    **{
        ("GET", p): {"none": {200}, "client": {200}, "master": {200}}
        for p in ("/health/liveliness", "/health/liveness", "/health/readiness", "/health/ready")
    },
    # HEAD reads what GET reads (Starlette answers it for a GET route; LiteLLM's health routes are GET only)
    **{
        ("HEAD", p): {"none": {200, 405}, "client": {200, 405}, "master": {200, 405}}
        for p in ("/health/liveliness", "/health/liveness", "/health/readiness", "/health/ready")
    },
    # the client here is the bot, which the shipped catalog gives read_budget (its admin chat's /spend): /budget
    # only; a client without it gets 403 (tests/integration/test_gateway_clients.py)
    ("GET", "/budget"): {"none": {401}, "client": {200}, "master": {200}},
    **{
        ("GET", p): {"none": {401}, "client": {403}, "master": {200}}
        for p in ("/metrics", "/llmstack/routes")
    },
}


@pytest.fixture(scope="module")
def budget() -> Iterator[RedisBudget]:
    counter = RedisBudget(f"llmstack-surface-{uuid.uuid4().hex[:12]}")
    yield counter
    counter.forget()


@pytest.fixture(scope="module")
def gateway(simulator: ProviderSimulator, budget: RedisBudget) -> Iterator[LocalGateway]:
    config = render_gateway_config(SPEC, simulator.api_bases(), master_key_completions=False)
    env = {
        **PROVIDER_ENV,
        **{Client.key_env(name): key for name, key in KEYS.items()},
        "REDIS_HOST": REDIS["host"],
        "REDIS_PORT": str(REDIS["port"]),
        "BUDGET_KEY_PREFIX": budget.prefix,
        # every optional feature's routes registered at startup, so the inventory below is complete (by default
        # LiteLLM registers them on their first request: proxy/_lazy_features.py; the guard is path-based and
        # refuses them either way)
        "LITELLM_DISABLE_LAZY_ROUTES": "1",
    }
    with LocalGateway(config, MASTER_KEY, env=env).running() as running:
        yield running


def inventory(gateway: LocalGateway) -> dict[str, Any]:
    # the first listing opens every included router (FastAPI builds their effective routes lazily): seconds
    response = httpx.get(f"{gateway.url}/llmstack/routes", headers=CALLERS["master"], timeout=180)
    assert response.status_code == 200, response.text
    listed: dict[str, Any] = response.json()
    return listed


def concrete(path: str) -> str:
    """A path to call for a route template: every ``{param}`` (also ``{param:path}``) filled in."""
    return re.sub(r"\{[^}]+\}", "x", path)


def call(
    gateway: LocalGateway, method: str, path: str, caller: str, client: httpx.Client | None = None
) -> httpx.Response:
    api = "chat" if path.endswith("/chat/completions") else path.rsplit("/", 1)[-1]
    body = BODIES.get(api, BODY) if method in ("POST", "PUT", "PATCH") else None
    send = client.request if client is not None else httpx.request
    return send(method, f"{gateway.url}{path}", json=body, headers=CALLERS[caller], timeout=30)


def test_every_route_answers_only_as_the_allow_list_says(
    gateway: LocalGateway, simulator: ProviderSimulator, budget: RedisBudget
) -> None:
    listed = inventory(gateway)
    routes = listed["routes"]
    # LiteLLM 1.108.7 mounts hundreds of routes; all but the allow-list answer 404
    assert listed["mounted"] > 500, listed["mounted"]
    simulator.reset()
    calls = {(("GET" if m == "*" else m), concrete(r["path"])) for r in routes for m in r["methods"]}
    # the mounts (/ui, /swagger, ...) and the landing page, called below their root too
    calls |= {
        ("GET", p) for p in ("/", "/ui/", "/ui/index.html", "/openapi.json", "/docs", "/redoc", "/swagger/")
    }
    seen: dict[tuple[str, str], dict[str, int]] = {}
    with httpx.Client() as client:
        for method, path in sorted(calls):
            for caller in CALLERS:
                response = call(gateway, method, path, caller, client)
                seen.setdefault((method, path), {})[caller] = response.status_code
    wrong = {
        key: answers
        for key, answers in seen.items()
        if any(
            status not in EXPECTED.get(key, {c: {404, 405} for c in CALLERS})[caller]
            for caller, status in answers.items()
        )
    }
    assert not wrong, wrong
    exposed = sorted(
        {f"{m} {p}" for (m, p), answers in seen.items() if any(s not in (404, 405) for s in answers.values())}
    )
    print(f"routes mounted: {listed['mounted']}, answering: {len(exposed)}: {exposed}")
    # the served APIs were among the routes read from the router (so the loop above did call them)
    for key in [("POST", "/v1/chat/completions"), ("POST", "/v1/messages"), ("POST", "/v1/responses")]:
        assert key in seen, key

    # every provider call was reserved and recorded: one settled hold per call, none left open
    calls = simulator.requests()
    assert calls, "the client key's completions reached the provider"
    day = _budget_day(budget)
    assert budget.wait_until_no_hold(day) == 0
    settled = budget.client.hlen(budget.key(day, "settled"))
    assert settled == len(calls), (settled, [(c.provider, c.endpoint) for c in calls])
    assert budget.spent_nano(day) > 0


def _budget_day(budget: RedisBudget) -> str:
    days = {key.decode().split(":")[-2].rstrip("}") for key in budget.client.scan_iter(f"*{budget.prefix}*")}
    assert len(days) == 1, days
    return days.pop()


def test_litellms_provider_calling_health_check_is_not_served(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    simulator.reset()
    for caller in CALLERS:
        response = call(gateway, "GET", "/health", caller)
        assert response.status_code == 404, response.text
        assert "GET /health is not served by this gateway" in response.text
    assert simulator.requests() == []


def test_operator_routes_need_the_master_key(gateway: LocalGateway) -> None:
    refused = call(gateway, "GET", "/llmstack/routes", "client")
    assert refused.status_code == 403
    assert "client 'bot' may not use operator routes" in refused.text
    assert call(gateway, "GET", "/llmstack/routes", "none").status_code == 401


@pytest.mark.parametrize("header", ["x-api-key", "api-key", "x-goog-api-key", "x-litellm-api-key"])
def test_budget_takes_the_key_from_any_header_the_guard_reads(gateway: LocalGateway, header: str) -> None:
    """The guard reads a key from each of surface.KEY_HEADERS (Anthropic's SDK sends x-api-key), and /budget reads
    the same, so a known key is never a 401 there. /metrics is answered first by LiteLLM's PrometheusAuthMiddleware
    (proxy/middleware/prometheus_auth_middleware.py), which reads ``Authorization`` only, as scrapers send it."""
    assert httpx.get(f"{gateway.url}/budget", headers={header: MASTER_KEY}, timeout=30).status_code == 200
    assert httpx.get(f"{gateway.url}/budget", headers={header: BOT}, timeout=30).status_code == 200
    assert httpx.get(f"{gateway.url}/budget", headers={header: "sk-unknown"}, timeout=30).status_code == 401
