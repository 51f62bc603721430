"""The client registry, the clients' pre-call hook and the client share inside the counter's one reservation."""

from __future__ import annotations

import asyncio
import re
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from fastapi import HTTPException
from llmstack_gateway.clients import (
    CLIENT_FIELD,
    OPERATOR,
    OPERATOR_FIELD,
    ClientAccess,
    client_share,
    operator_route_refusal,
    parse_registry,
)
from llmstack_gateway.counter import ClientShare
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.redis_counter import RedisCounter
from llmstack_gateway.surface import kind_of

MASTER = "sk-master-" + "m" * 30
BOT, TOOLS = "sk-bot-" + "b" * 30, "sk-tools-" + "t" * 30
CONFIG: dict[str, Any] = {
    "llmstack_clients": {
        "master_key_completions": False,
        "clients": {
            "bot": {"key": "os.environ/LLMSTACK_CLIENT_BOT_KEY", "routes": ["simple", "balanced"]},
            "tools": {"key": "os.environ/LLMSTACK_CLIENT_TOOLS_KEY", "routes": ["simple"], "daily_usd": 1.0},
        },
    }
}
ENV = {"LITELLM_MASTER_KEY": MASTER, "LLMSTACK_CLIENT_BOT_KEY": BOT, "LLMSTACK_CLIENT_TOOLS_KEY": TOOLS}


def test_each_key_identifies_its_client_and_nothing_else_does() -> None:
    registry = parse_registry(CONFIG, ENV)
    assert registry.identify(BOT) is registry.clients["bot"]
    assert registry.identify(TOOLS) is registry.clients["tools"]
    assert registry.identify(MASTER) is OPERATOR
    for wrong in ("", BOT[:-1], BOT + "x", TOOLS.upper(), "sk-" + uuid.uuid4().hex):
        assert registry.identify(wrong) is None, wrong


def test_a_key_written_into_the_config_is_refused() -> None:
    config = {"llmstack_clients": {"clients": {"bot": {"key": BOT, "routes": ["simple"]}}}}
    with pytest.raises(ValueError, match=re.escape("key must be os.environ/<VARIABLE>, never a value")):
        parse_registry(config, ENV)


def test_two_clients_with_one_key_are_refused() -> None:
    with pytest.raises(ValueError, match="client 'tools' has the same key as bot"):
        parse_registry(CONFIG, {**ENV, "LLMSTACK_CLIENT_TOOLS_KEY": BOT})
    with pytest.raises(ValueError, match="client 'bot' has the same key as the master key"):
        parse_registry(CONFIG, {**ENV, "LLMSTACK_CLIENT_BOT_KEY": MASTER})


def test_a_client_without_its_variable_cannot_call_and_the_others_can() -> None:
    registry = parse_registry(CONFIG, {**ENV, "LLMSTACK_CLIENT_BOT_KEY": ""})
    assert registry.identify("") is None
    assert registry.identify(TOOLS) is registry.clients["tools"]


def test_a_config_from_before_clients_keeps_the_master_key_for_completions() -> None:
    registry = parse_registry({}, ENV)
    assert registry.master_key_completions is True
    assert registry.identify(MASTER) is OPERATOR


def test_read_budget_opens_budget_and_no_other_operator_route() -> None:
    config = {
        "llmstack_clients": {
            **CONFIG["llmstack_clients"],
            "clients": {**CONFIG["llmstack_clients"]["clients"]},
        }
    }
    config["llmstack_clients"]["clients"]["bot"] = {
        **config["llmstack_clients"]["clients"]["bot"],
        "read_budget": True,
    }
    registry = parse_registry(config, ENV)
    bot, tools = registry.identify(BOT), registry.identify(TOOLS)
    assert bot is not None and tools is not None
    assert (bot.read_budget, tools.read_budget) == (True, False)  # absent is false
    for path in ("/budget", "/budget/"):
        assert operator_route_refusal(bot, path) is None
        assert operator_route_refusal(OPERATOR, path) is None
    assert operator_route_refusal(tools, "/budget") == (
        "client 'tools' may not read the budget: set clients.tools.read_budget: true in the catalog (or "
        "llmstack:clients.tools.read_budget: true in the stack's file) and redeploy, or read it with the master key"
    )
    for path in ("/metrics", "/llmstack/routes"):
        assert operator_route_refusal(OPERATOR, path) is None
        for client in (bot, tools):
            assert operator_route_refusal(client, path) == (
                f"client '{client.name}' may not use operator routes; they need the master key"
            )


@pytest.mark.parametrize("value", ["false", "true", 1, None])
def test_a_read_budget_that_is_not_a_boolean_is_refused(value: Any) -> None:
    # the catalog types it (strict bool); a hand-edited config's string "false" would otherwise be truthy
    config = {
        "llmstack_clients": {
            "clients": {
                "bot": {
                    "key": "os.environ/LLMSTACK_CLIENT_BOT_KEY",
                    "routes": ["simple"],
                    "read_budget": value,
                }
            }
        }
    }
    with pytest.raises(
        ValueError, match=re.escape(f"client 'bot': read_budget must be true or false, got {value!r}")
    ):
        parse_registry(config, ENV)


def identity(**metadata: Any) -> Any:
    # the hooks read ``metadata`` from LiteLLM's UserAPIKeyAuth, which auth.py fills (proxy/_types.py)
    return SimpleNamespace(metadata=metadata)


def hook(monkeypatch: pytest.MonkeyPatch) -> ClientAccess:
    registry = parse_registry(CONFIG, ENV)
    monkeypatch.setattr("llmstack_gateway.clients.registry", lambda: registry)
    return ClientAccess(registry)


def test_the_hook_refuses_a_route_the_client_was_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    access = hook(monkeypatch)
    with pytest.raises(HTTPException) as caught:
        asyncio.run(
            access.async_pre_call_hook(identity(**{CLIENT_FIELD: "tools"}), None, {"model": "balanced"}, "")
        )
    assert caught.value.status_code == 403
    assert caught.value.detail == {
        "error": "client 'tools' may not use route 'balanced'; its routes: simple",
        "reason": "route_not_allowed",  # the request's record names it (records.py)
    }
    data = asyncio.run(
        access.async_pre_call_hook(identity(**{CLIENT_FIELD: "bot"}), None, {"model": "balanced"}, "")
    )
    assert data["metadata"][CLIENT_FIELD] == "bot"


def test_the_hook_refuses_the_master_key_and_an_anonymous_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    access = hook(monkeypatch)
    for caller, message in (
        (identity(**{OPERATOR_FIELD: True}), "the master key is for operators"),
        (identity(), "no client identity"),
    ):
        with pytest.raises(HTTPException) as caught:
            asyncio.run(access.async_pre_call_hook(caller, None, {"model": "simple"}, ""))
        assert caught.value.status_code == 403
        assert message in caught.value.detail["error"]


def test_client_share_is_in_nano_usd(monkeypatch: pytest.MonkeyPatch) -> None:
    hook(monkeypatch)
    assert client_share(identity(**{CLIENT_FIELD: "tools"})) == ClientShare("tools", 1_000_000_000)
    assert client_share(identity(**{CLIENT_FIELD: "bot"})) == ClientShare("bot", None)
    assert client_share(identity(**{OPERATOR_FIELD: True})) is None


@pytest.mark.parametrize(
    ("method", "path", "kind"),
    [
        ("POST", "/v1/chat/completions", "client"),
        ("POST", "/messages", "client"),
        ("GET", "/v1/models", "client"),
        ("GET", "/health/readiness", "public"),
        ("HEAD", "/health/liveliness", "public"),
        ("HEAD", "/v1/models", None),
        ("GET", "/budget", "operator"),
        ("GET", "/health", None),
        ("GET", "/", None),
        ("GET", "/openapi.json", None),
        ("GET", "/ui/", None),
        ("GET", "/budget/list", None),
        ("POST", "/key/generate", None),
        ("POST", "/v1/embeddings", None),
        ("POST", "/v1/messages/count_tokens", None),
        ("POST", "/anthropic/v1/messages", None),
        ("GET", "/v1/chat/completions", None),
    ],
)
def test_the_surface_allow_list(method: str, path: str, kind: str | None) -> None:
    assert kind_of(method, path) == kind


# -- the share inside the one reservation -------------------------------------------------------------------
DAY = "2026-12-01"
CAP = 1_000


async def exhaust_share(counter: Any) -> None:
    share = ClientShare("tools", 300)
    assert (await counter.reserve(DAY, "t1", 200, CAP, share)).admitted
    refused = await counter.reserve(DAY, "t2", 200, CAP, share)
    assert not refused.admitted and refused.client_share_spent
    assert (refused.client_spent, refused.client_reserved) == (0, 200)
    # another client goes on within the stack's cap
    assert (await counter.reserve(DAY, "b1", 500, CAP, ClientShare("bot"))).admitted
    await counter.settle(DAY, "t1", 150)
    # the settled cost, not the reservation, counts against the share afterwards
    again = await counter.reserve(DAY, "t3", 150, CAP, share)
    assert again.admitted and (again.client_spent, again.client_reserved) == (150, 150)
    over_cap = await counter.reserve(DAY, "b2", 400, CAP, ClientShare("bot"))
    assert not over_cap.admitted and not over_cap.client_share_spent
    await counter.settle(DAY, "b1", 100)
    await counter.release(DAY, "t3")
    assert await counter.client_spent(DAY) == {"tools": 150, "bot": 100}
    assert await counter.spent(DAY) == (250, 0)


def test_memory_counter_share() -> None:
    asyncio.run(exhaust_share(MemoryCounter()))


def test_redis_counter_share() -> None:
    try:
        redis.Redis(socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("needs the Redis on 127.0.0.1:6379")
    prefix = f"h8-test-{uuid.uuid4().hex[:8]}"
    counter = RedisCounter("redis://127.0.0.1:6379/0", prefix)
    try:
        asyncio.run(exhaust_share(counter))
    finally:
        client = redis.Redis()
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


def test_an_expired_hold_frees_the_clients_share_and_a_late_settlement_still_counts() -> None:
    now = [0.0]
    counter = MemoryCounter(expiry_s=10, clock=lambda: now[0])

    async def run() -> None:
        share = ClientShare("tools", 300)
        assert (await counter.reserve(DAY, "t1", 300, CAP, share)).admitted
        assert not (await counter.reserve(DAY, "t2", 1, CAP, share)).admitted
        now[0] = 11  # the worker holding t1 was killed
        assert (await counter.reserve(DAY, "t2", 200, CAP, share)).admitted
        await counter.settle(DAY, "t1", 50)  # it answered after all
        assert (await counter.client_spent(DAY))["tools"] == 50

    asyncio.run(run())


def test_a_client_without_its_key_is_named_by_the_configs_own_variable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = {
        "llmstack_clients": {
            "clients": {
                "tools": {"key": "os.environ/HAND_RENAMED_TOOLS_KEY", "routes": ["simple"]},
                "bot": {"key": "os.environ/LLMSTACK_CLIENT_BOT_KEY", "routes": ["simple"]},
            }
        }
    }
    with caplog.at_level("ERROR", logger="llmstack.clients"):
        registry = parse_registry(config, {"LLMSTACK_CLIENT_BOT_KEY": "sk-bot-" + uuid.uuid4().hex})
    assert "client 'tools' has no key: HAND_RENAMED_TOOLS_KEY is unset or empty" in caplog.text
    assert "'bot'" not in caplog.text  # its key is there
    assert registry.identify("") is None


@pytest.mark.parametrize("name", ["operator", "unattributed"])
def test_a_hand_edited_client_named_as_the_operator_refuses_to_start(name: str) -> None:
    config = {"llmstack_clients": {"clients": {name: {"key": "os.environ/SOME_KEY", "routes": ["simple"]}}}}
    with pytest.raises(ValueError, match=f"client '{name}': the name is the operator's"):
        parse_registry(config, {"SOME_KEY": "sk-" + uuid.uuid4().hex})


def test_the_catalog_check_reserves_the_gateways_names() -> None:
    from llmstack_gateway.counter import OPERATOR_NAME, UNATTRIBUTED

    from infra.checks.clients import RESERVED_CLIENT_NAMES

    assert set(RESERVED_CLIENT_NAMES) == {OPERATOR_NAME, UNATTRIBUTED}
