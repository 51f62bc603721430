"""Client keys through the real proxy: each key works for its own routes only, unknown keys are 401, the master key
is for operators, /v1/models lists the caller's routes, a rotated key stops working after the restart, and a client
with read_budget (the bot) reads GET /budget, so the bot's /spend shows the gateway's numbers with its own key."""

from __future__ import annotations

import html
import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.catalog.models import Client
from infra.localgateway import LocalBot, LocalGateway
from infra.render import render_gateway_config, with_in_memory_counter
from infra.simulator import ProviderSimulator
from infra.simulator.telegram import FakeTelegram
from tests.integration.conftest import (
    MASTER_KEY,
    PROVIDER_ENV,
    RedisBudget,
    chat,
    error_message,
    needs_redis,
    stack_spec,
    tell_bot,
)

SPEC = with_in_memory_counter(stack_spec("prod", budget={"daily_usd": 50}))
KEYS = {name: "sk-client-" + secrets.token_hex(16) for name in SPEC.catalog.clients}


def client_env(keys: dict[str, str]) -> dict[str, str]:
    return {Client.key_env(name): key for name, key in keys.items()}


def gateway_for(simulator: ProviderSimulator, keys: dict[str, str]) -> LocalGateway:
    # the shipped catalog's flag (off), not the local-run default: the master key must not ask for completions
    config = render_gateway_config(SPEC, simulator.api_bases(), master_key_completions=False)
    return LocalGateway(config, MASTER_KEY, env={**PROVIDER_ENV, **client_env(keys)})


@pytest.fixture(scope="module")
def gateway(simulator: ProviderSimulator) -> Iterator[LocalGateway]:
    with gateway_for(simulator, KEYS).running() as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(simulator: ProviderSimulator) -> None:
    simulator.reset()


def test_the_shipped_catalog_has_the_bot_and_a_tools_client() -> None:
    assert set(SPEC.catalog.clients) == {"bot", "tools"}
    assert set(SPEC.catalog.clients["bot"].routes) == set(SPEC.catalog.routes)


@pytest.mark.parametrize("name", sorted(SPEC.catalog.clients))
def test_each_client_key_works_for_each_of_its_routes(
    name: str, gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    for route in SPEC.catalog.clients[name].routes:
        response = chat(gateway, route, key=KEYS[name], max_tokens=8)
        assert response.status_code == 200, (route, response.text)
    assert len(simulator.requests()) == len(SPEC.catalog.clients[name].routes)


@pytest.mark.parametrize("name", sorted(SPEC.catalog.clients))
def test_a_client_key_is_403_naming_the_route_for_every_other_name(
    name: str, gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    allowed = set(SPEC.catalog.clients[name].routes)
    others = [n for n in [*SPEC.catalog.routes, *SPEC.catalog.models] if n not in allowed]
    assert others
    for other in others:
        response = chat(gateway, other, key=KEYS[name])
        assert response.status_code == 403, (other, response.text)
        assert f"client '{name}' may not use route '{other}'" in error_message(response)
    assert simulator.requests() == []


def test_the_anthropic_messages_api_checks_the_route_too(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    body = {"model": "long-context", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    refused = httpx.post(
        f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": KEYS["tools"]}, timeout=30
    )
    assert refused.status_code == 403, refused.text
    assert "client 'tools' may not use route 'long-context'" in refused.text
    allowed = httpx.post(
        f"{gateway.url}/v1/messages",
        json={**body, "model": "simple"},
        headers={"x-api-key": KEYS["tools"]},
        timeout=30,
    )
    assert allowed.status_code == 200, allowed.text
    assert len(simulator.requests()) == 1


@pytest.mark.parametrize("key", [None, "", "sk-client-" + "0" * 32, KEYS["bot"] + "x", KEYS["bot"][:-1]])
def test_an_unknown_key_is_401(key: str | None, gateway: LocalGateway, simulator: ProviderSimulator) -> None:
    response = chat(gateway, "simple", key=key)
    assert response.status_code == 401, response.text
    assert simulator.requests() == []


def test_the_master_key_is_refused_for_completions_by_default(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    response = chat(gateway, "simple", key=MASTER_KEY)
    assert response.status_code == 403, response.text
    assert "the master key is for operators" in error_message(response)
    assert simulator.requests() == []


@pytest.mark.parametrize("name", sorted(SPEC.catalog.clients))
def test_models_lists_only_the_callers_routes(name: str, gateway: LocalGateway) -> None:
    response = httpx.get(f"{gateway.url}/v1/models", headers={"Authorization": f"Bearer {KEYS[name]}"})
    assert response.status_code == 200, response.text
    assert [m["id"] for m in response.json()["data"]] == list(SPEC.catalog.clients[name].routes)
    assert httpx.get(f"{gateway.url}/v1/models").status_code == 401


def test_a_rotated_key_stops_working_after_the_restart(simulator: ProviderSimulator) -> None:
    rotated = {**KEYS, "bot": "sk-client-" + secrets.token_hex(16)}
    with gateway_for(simulator, rotated).running() as restarted:
        assert chat(restarted, "simple", key=KEYS["bot"]).status_code == 401
        assert chat(restarted, "simple", key=rotated["bot"], max_tokens=8).status_code == 200
        assert chat(restarted, "simple", key=KEYS["tools"], max_tokens=8).status_code == 200


def test_a_client_at_its_share_gets_429_while_the_other_goes_on(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    """tools' $1 share against bot (no share) under one concurrent load: every request reserves its worst case
    ($0.12: 8192 output tokens at the chain's highest price), so about 8 tools requests fit while they are held."""
    share = SPEC.catalog.clients["tools"].daily_usd
    assert share == 1.0
    simulator.healthy_delay_ms = 1500  # requests overlap, so the holds race for the share for real
    try:
        jobs = [("tools", KEYS["tools"]), ("bot", KEYS["bot"])] * 16
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            answers = list(
                pool.map(lambda job: (job[0], chat(gateway, "simple", key=job[1], max_tokens=8192)), jobs)
            )
    finally:
        simulator.healthy_delay_ms = 0
    tools = [r for name, r in answers if name == "tools"]
    bot = [r for name, r in answers if name == "bot"]
    assert all(r.status_code == 200 for r in bot), [r.text for r in bot if r.status_code != 200]
    refused = [r for r in tools if r.status_code == 429]
    served = [r for r in tools if r.status_code == 200]
    assert refused and served, [r.status_code for r in tools]
    # a refusal is the share's arithmetic: what tools spent and held, plus this request, would pass $1
    for response in refused:
        figures = response.json()["error"]["provider_specific_fields"]
        assert figures["client"] == "tools" and figures["share_usd"] == share
        assert figures["spent_usd"] + figures["held_usd"] + figures["request_usd"] > share
        assert figures["spent_usd"] + figures["held_usd"] <= share
    assert sum(float(r.headers["x-litellm-response-cost"]) for r in served) <= share
    message = error_message(refused[0])
    assert "client tools's share of $1 is spent for today" in message, message
    assert "held by its requests in flight" in message
    # the provider saw exactly the admitted requests
    assert len(simulator.requests()) == len(served) + len(bot)


@needs_redis
def test_a_client_over_its_rate_gets_429_with_retry_after_while_the_other_goes_on(
    simulator: ProviderSimulator,
) -> None:
    """tools limited to 3 requests a minute in the stack's Redis (the deployed path): 3 answers, then 429 naming
    the client and its limit with Retry-After, and nothing reserved for the refused ones; bot is not limited."""
    spec = stack_spec(
        "prod",
        gateway={"replicas": 1, "workers": 1, "shared_state": "redis"},
        budget={"daily_usd": 50},
        clients={"tools": {"requests_per_minute": 3}},
    )
    config = render_gateway_config(spec, simulator.api_bases(), master_key_completions=False)
    with RedisBudget.fresh("h14-rate") as budget:
        env = {**PROVIDER_ENV, **client_env(KEYS), **budget.gateway_env()}
        with LocalGateway(config, MASTER_KEY, env=env).running() as gateway:
            answers = [chat(gateway, "simple", key=KEYS["tools"], max_tokens=8) for _ in range(5)]
            assert [r.status_code for r in answers] == [200, 200, 200, 429, 429], [r.text for r in answers]
            refused = answers[3]
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            message = error_message(refused)
            assert (
                "client 'tools' is limited to 3 requests per minute and has made 3 in the last 60 s"
                in message
            )
            assert f"retry in {refused.headers['Retry-After']} s" in message
            figures = refused.json()["error"]["provider_specific_fields"]
            assert (figures["client"], figures["requests_per_minute"]) == ("tools", 3)
            # the Anthropic messages API shares the window and keeps the header (litellm's
            # anthropic_endpoints/endpoints.py hands the exception's headers to its error response)
            body = {"model": "simple", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
            messages = httpx.post(
                f"{gateway.url}/v1/messages", json=body, headers={"x-api-key": KEYS["tools"]}, timeout=30
            )
            assert messages.status_code == 429 and "Retry-After" in messages.headers, messages.text
            assert "client 'tools' is limited to 3 requests per minute" in messages.text
            assert all(
                chat(gateway, "simple", key=KEYS["bot"], max_tokens=8).status_code == 200 for _ in range(4)
            )
            # the refused requests reached neither the provider nor the budget: no hold was ever left open
            assert len(simulator.requests()) == 3 + 4
            assert budget.client.zcard(f"ratelimit:{{{budget.prefix}}}:client:tools") == 3
            reserved = list(budget.client.scan_iter(f"budget:{{{budget.prefix}:*}}:reserved"))
            assert reserved and all(int(budget.client.get(k) or 0) == 0 for k in reserved)


# -- GET /budget with a client key (clients.<name>.read_budget; issue 12: the bot's /spend) --------------------
def budget_of(gateway: LocalGateway, key: str | None, path: str = "/budget") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}".strip()} if key is not None else {}
    return httpx.get(f"{gateway.url}{path}", params={"days": 3}, headers=headers, timeout=30)


def settled_budget(gateway: LocalGateway) -> dict[str, Any]:
    """The master key's /budget once no request holds anything (a hold settles just after its answer is sent)."""
    deadline = time.monotonic() + 30
    while True:
        response = budget_of(gateway, MASTER_KEY)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["held_usd"] == 0 or time.monotonic() > deadline:
            assert body["held_usd"] == 0, body
            return body
        time.sleep(0.2)


def spend_something(gateway: LocalGateway) -> None:
    """Enough spend that /spend's four decimals show it: ~1000 input tokens at claude-sonnet's $3/Mtok, per client."""
    for name in ("bot", "tools"):
        response = chat(gateway, "balanced", key=KEYS[name], max_tokens=8, messages=[BIG_QUESTION])
        assert response.status_code == 200, response.text


BIG_QUESTION = {"role": "user", "content": "x" * 4000}
READ_BUDGET_REFUSAL = (
    "client 'tools' may not read the budget: set clients.tools.read_budget: true in the catalog (or "
    "llmstack:clients.tools.read_budget: true in the stack's file) and redeploy, or read it with the master key"
)


def test_a_read_budget_clients_key_reads_the_same_budget_as_the_master_key(gateway: LocalGateway) -> None:
    assert SPEC.catalog.clients["bot"].read_budget and not SPEC.catalog.clients["tools"].read_budget
    spend_something(gateway)
    master = settled_budget(gateway)
    response = budget_of(gateway, KEYS["bot"])
    assert response.status_code == 200, response.text
    assert response.json() == master
    assert master["spent_usd"] > 0 and {"bot", "tools"} <= set(master["by_client"])


def test_a_client_without_read_budget_gets_403_naming_the_setting(gateway: LocalGateway) -> None:
    refused = budget_of(gateway, KEYS["tools"])
    assert refused.status_code == 403, refused.text
    assert error_message(refused) == READ_BUDGET_REFUSAL
    for key in (None, "", "sk-client-" + "0" * 32, KEYS["bot"] + "x"):
        assert budget_of(gateway, key).status_code == 401, key


def test_read_budget_opens_nothing_else(gateway: LocalGateway, simulator: ProviderSimulator) -> None:
    bot = {"Authorization": f"Bearer {KEYS['bot']}"}
    for path in ("/metrics", "/llmstack/routes"):
        refused = httpx.get(f"{gateway.url}{path}", headers=bot, timeout=30)
        assert refused.status_code == 403, (path, refused.text)
        assert error_message(refused) == "client 'bot' may not use operator routes; they need the master key"
        assert budget_of(gateway, MASTER_KEY, path).status_code == 200
    # LiteLLM's own spend and management routes stay outside the surface (404), whatever the key
    for method, path in (
        ("GET", "/budget/list"),
        ("POST", "/budget/new"),
        ("GET", "/spend/logs"),
        ("GET", "/global/spend/report"),
        ("POST", "/key/generate"),
    ):
        response = httpx.request(method, f"{gateway.url}{path}", headers=bot, json={}, timeout=30)
        assert response.status_code == 404, (method, path, response.text)
    # and completions only for its routes: a group it was not given is still 403 naming it
    refused = chat(gateway, "gpt-4o", key=KEYS["bot"])
    assert refused.status_code == 403, refused.text
    assert "client 'bot' may not use route 'gpt-4o'" in error_message(refused)
    assert simulator.requests() == []


# -- the bot's /spend against the real gateway, with the bot's own client key ----------------------------------
BOT_TOKEN = "123456789:" + "S" * 35
ADMIN = 6001


def spend_reply(gateway: LocalGateway, tmp_path: Path) -> str:
    """A real bot (GATEWAY_API_KEY: the bot client's key, as the program sets it) asked /spend in its admin chat."""
    telegram = FakeTelegram(BOT_TOKEN)
    with telegram.running():
        bot = LocalBot(
            {
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(32),
                "TELEGRAM_API_BASE": telegram.api_base,
                "ALERTS_SECRET": secrets.token_urlsafe(32),
                "GATEWAY_BASE_URL": gateway.url,
                "GATEWAY_API_KEY": KEYS["bot"],
                "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
                "ALLOWED_USER_IDS": str(ADMIN),
                "ADMIN_CHAT_ID": str(ADMIN),  # a private chat's id is its user's
                "BIND_HOST": "127.0.0.1",
            }
        )
        with bot.running():
            tell_bot(bot, telegram, user=ADMIN, text="/spend", update_id=1)
        sent = telegram.sent(ADMIN)
    assert len(sent) == 1, sent
    return html.unescape(str(sent[0]["text"]))


def test_the_bots_spend_shows_the_gateways_numbers_with_its_own_key(
    gateway: LocalGateway, tmp_path: Path
) -> None:
    spend_something(gateway)
    master = settled_budget(gateway)
    text = spend_reply(gateway, tmp_path)
    assert settled_budget(gateway) == master  # nothing changed while the bot read it
    assert text.startswith("<b>Spend</b>\n<pre>"), text
    assert f"spent ${master['spent_usd']:.4f} of ${master['cap_usd']:g}" in text, text
    for section in ("by_group", "by_provider", "by_client"):
        for name, amount in master[section].items():
            assert f"  {name:<16} ${amount:.4f}" in text, (section, name, text)
    assert f"{master['requests']} request(s)" in text


def test_the_bots_spend_says_what_to_set_when_its_client_cannot_read_the_budget(
    simulator: ProviderSimulator, tmp_path: Path
) -> None:
    spec = with_in_memory_counter(
        stack_spec("prod", budget={"daily_usd": 50}, clients={"bot": {"read_budget": False}})
    )
    assert not spec.catalog.clients["bot"].read_budget
    config = render_gateway_config(spec, simulator.api_bases(), master_key_completions=False)
    with LocalGateway(config, MASTER_KEY, env={**PROVIDER_ENV, **client_env(KEYS)}).running() as gateway:
        refused = budget_of(gateway, KEYS["bot"])
        assert refused.status_code == 403, refused.text
        text = spend_reply(gateway, tmp_path)
    assert text == (
        "Spend is not available: the gateway does not let the bot's key read /budget (403: client 'bot' may not "
        "read the budget: set clients.bot.read_budget: true in the catalog (or llmstack:clients.bot.read_budget: "
        "true in the stack's file) and redeploy, or read it with the master key)"
    )


# -- refusals in the records and the metrics (issue 12): refused, their reason, no attempt, no provider error ---
RECORD_START = '{"event":"llmstack.request"'


def record_lines(gateway: LocalGateway) -> list[dict[str, Any]]:
    """The gateway's request records (records.py: one JSON line each on stdout, which LocalGateway logs)."""
    lines = gateway.log_tail(100_000).splitlines()
    return [json.loads(line) for line in lines if line.startswith(RECORD_START)]


def new_record(gateway: LocalGateway, seen: int) -> dict[str, Any]:
    """The one record written after the first ``seen`` (the calls here run one at a time)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = record_lines(gateway)
        if len(records) > seen:
            (record,) = records[seen:]
            return record
        time.sleep(0.05)
    raise AssertionError(f"no new record:\n{gateway.log_tail(30)}")


def provider_errors(gateway: LocalGateway) -> float:
    scraped = httpx.get(
        f"{gateway.url}/metrics", headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    )
    assert scraped.status_code == 200, scraped.text
    return sum(
        sample.value
        for family in text_string_to_metric_families(scraped.text)
        if family.name == "llmstack_gateway_errors"
        for sample in family.samples
        if sample.name.endswith("_total")
    )


def test_each_refusal_is_recorded_refused_with_its_reason_and_no_attempt(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    """Through the real OpenAI SDK: the route 403, the client share's 429, the daily cap's 429 and a wrong key's
    401. None reaches a provider, so none is a deployment attempt, and the provider error counter stays put."""

    def sdk(key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0)

    hi = [{"role": "user", "content": "hi"}]
    refusals: list[tuple[str, Any, type[openai.APIStatusError], str, str]] = [
        # (who, the call, the SDK's error, the record's refusal, what the message says)
        (
            "tools",
            lambda: sdk(KEYS["tools"]).chat.completions.create(
                model="long-context", messages=hi, max_tokens=8
            ),
            openai.PermissionDeniedError,
            "route_not_allowed",
            "client 'tools' may not use route 'long-context'",
        ),
        (
            "tools",
            # ten choices of 8192 tokens: more than tools' whole $1 share, however little it spent today
            lambda: sdk(KEYS["tools"]).chat.completions.create(model="simple", messages=hi, n=10),
            openai.RateLimitError,
            "client_share_exhausted",
            "client tools's share of $1 cannot cover this request on any day",
        ),
        (
            "bot",
            # more than the stack's whole $50 cap
            lambda: sdk(KEYS["bot"]).chat.completions.create(model="simple", messages=hi, n=1000),
            openai.RateLimitError,
            "daily_budget_exhausted",
            "the daily budget of $50 cannot cover this request on any day",
        ),
        (
            None,
            lambda: sdk("sk-client-" + "0" * 32).chat.completions.create(model="simple", messages=hi),
            openai.AuthenticationError,
            "invalid_key",
            "",
        ),
    ]
    errors_before = provider_errors(gateway)
    for client, call, error, reason, message in refusals:
        seen = len(record_lines(gateway))
        with pytest.raises(error) as caught:
            call()
        assert message in str(caught.value), str(caught.value)
        if reason.endswith("_exhausted"):
            assert "waiting for the reset will not help; lower max_tokens" in str(caught.value)
        record = new_record(gateway, seen)
        assert (record["outcome"], record["refusal"], record["attempts"]) == ("refused", reason, []), record
        assert (record["client"], record["provider"], record["cost_usd"]) == (client, None, 0), record
    assert simulator.requests() == []
    assert provider_errors(gateway) == errors_before
