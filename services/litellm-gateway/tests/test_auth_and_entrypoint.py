"""The 401 check and the container entrypoint's refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi import HTTPException
from llmstack_gateway.auth import user_api_key_auth
from llmstack_gateway.entrypoint import prepare

KEY = "sk-master-" + "k" * 30


@pytest.mark.parametrize("presented", ["", "wrong", KEY + "x", "Bearer wrong", None])
def test_anything_but_the_master_key_is_401(presented: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", KEY)
    with pytest.raises(HTTPException) as caught:
        asyncio.run(user_api_key_auth(None, presented))  # type: ignore[arg-type]
    assert caught.value.status_code == 401


def test_the_master_key_passes_with_or_without_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_MASTER_KEY", KEY)
    from litellm.proxy._types import LitellmUserRoles

    for presented in (KEY, f"Bearer {KEY}"):
        identity = asyncio.run(user_api_key_auth(None, presented))  # type: ignore[arg-type]
        assert identity.user_role == LitellmUserRoles.PROXY_ADMIN


def test_no_master_key_configured_lets_nobody_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LITELLM_MASTER_KEY", raising=False)
    with pytest.raises(HTTPException):
        asyncio.run(user_api_key_auth(None, ""))  # type: ignore[arg-type]


CONFIG = "model_list: []\nllmstack_budget: {shared_state: redis}\n"
MEMORY_CONFIG = "model_list: []\nllmstack_budget: {shared_state: none}\n"


def test_prepare_writes_the_config_and_builds_the_command(tmp_path: object) -> None:
    env = {
        "LITELLM_CONFIG_YAML": CONFIG,
        "LITELLM_MASTER_KEY": KEY,
        "PORT": "4100",
        "LITELLM_NUM_WORKERS": "2",
        "LLMSTACK_CONFIG_DIR": str(tmp_path),
        "REDIS_HOST": "redis.internal",
    }
    command = prepare(env)
    assert command[:3] == ["litellm", "--config", env["LLMSTACK_GATEWAY_CONFIG"]]
    assert command[-4:] == ["--port", "4100", "--num_workers", "2"]
    assert Path(env["LLMSTACK_GATEWAY_CONFIG"]).read_text() == CONFIG
    assert env["TIMEOUT_WORKER_HEALTHCHECK"] == "60"  # workers importing LiteLLM on a busy CPU are not killed


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "LITELLM_CONFIG_YAML is empty"),
        ({"LITELLM_CONFIG_YAML": "model_list: []\n"}, "not a config rendered by llmstack"),
        ({"LITELLM_CONFIG_YAML": CONFIG}, "LITELLM_MASTER_KEY is not set"),
    ],
)
def test_prepare_refuses_bad_input(env: dict[str, str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        prepare(env)


def test_a_deployed_gateway_refuses_an_in_memory_counter(tmp_path: object) -> None:
    env = {
        "LITELLM_CONFIG_YAML": MEMORY_CONFIG,
        "LITELLM_MASTER_KEY": KEY,
        "LLMSTACK_CONFIG_DIR": str(tmp_path),
    }
    with pytest.raises(SystemExit) as caught:
        prepare(env)
    message = str(caught.value)
    assert (
        "refuses to start: the rendered config keeps the budget counter in memory (shared_state: 'none')"
        in message
    )
    assert "needs shared_state: redis" in message and "LLMSTACK_LOCAL=1" in message


def test_llmstack_local_may_count_in_memory(tmp_path: object) -> None:
    env = {
        "LITELLM_CONFIG_YAML": MEMORY_CONFIG,
        "LITELLM_MASTER_KEY": KEY,
        "LLMSTACK_CONFIG_DIR": str(tmp_path),
        "LLMSTACK_LOCAL": "1",
    }
    assert prepare(env)[0] == "litellm"


def test_a_redis_counter_without_redis_settings_is_refused(tmp_path: object) -> None:
    env = {"LITELLM_CONFIG_YAML": CONFIG, "LITELLM_MASTER_KEY": KEY, "LLMSTACK_CONFIG_DIR": str(tmp_path)}
    with pytest.raises(SystemExit, match="neither REDIS_URL nor REDIS_HOST is set"):
        prepare(env)
