"""Every variable the program sets on the bot is a field of the bot's Settings, so a misspelt name fails here
instead of being silently ignored (its ``extra="ignore"``) and leaving the field at its default."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest
from pydantic_settings import BaseSettings, EnvSettingsSource

from infra.dryrun import run_program, stack_config, unwrap
from tests.conftest import ROOT, STACKS

SETTINGS_FILE = ROOT / "services" / "telegram-bot" / "llmstack_bot" / "settings.py"
#: variables Railway itself reads from a service's variables, not the bot (docs.railway.com: deployment
#: teardown for RAILWAY_DEPLOYMENT_DRAINING_SECONDS); allowed only if the bot reads them too (checked below)
PLATFORM_VARIABLES = {"RAILWAY_DEPLOYMENT_DRAINING_SECONDS"}


def bot_settings_module() -> ModuleType:
    """The bot's settings.py as the bot imports it (it imports nothing else of the bot's)."""
    spec = importlib.util.spec_from_file_location("llmstack_bot_settings_under_test", SETTINGS_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the module's annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def env_names(settings: type[BaseSettings]) -> set[str]:
    """The environment names pydantic-settings reads the fields from, exactly as its EnvSettingsSource derives
    them (prefix, ``validation_alias`` and each ``AliasChoices`` choice, lower-cased unless case-sensitive)."""
    source = EnvSettingsSource(settings)
    return {
        env_name
        for name, field in settings.model_fields.items()
        for _key, env_name, _complex in source._extract_field_info(field, name)
    }


def unknown_to(settings: type[BaseSettings], variables: set[str]) -> list[str]:
    known = env_names(settings)
    case_sensitive = bool(settings.model_config.get("case_sensitive"))
    return sorted(v for v in variables if (v if case_sensitive else v.lower()) not in known)


@pytest.fixture(scope="module")
def settings() -> type[BaseSettings]:
    cls = bot_settings_module().Settings
    assert issubclass(cls, BaseSettings)
    return cls


@pytest.fixture(scope="module")
def bot_variables() -> set[str]:
    config, secret_keys = stack_config(STACKS / "Pulumi.prod.yaml")
    result = run_program("prod", config, secret_keys)
    assert result.error is None, result.error
    return set(unwrap(result.named("bot-app-variables").inputs["variables"]))


def test_every_bot_variable_is_a_settings_field(
    settings: type[BaseSettings], bot_variables: set[str]
) -> None:
    assert unknown_to(settings, bot_variables) == []
    # the platform's own variables are read by the bot too (it sizes its shutdown to them)
    assert not unknown_to(settings, PLATFORM_VARIABLES)


def test_a_misspelt_variable_is_found(settings: type[BaseSettings], bot_variables: set[str]) -> None:
    misspelt = (bot_variables - {"GATEWAY_BASE_URL"}) | {"GATEWAY_BASEURL"}
    assert unknown_to(settings, misspelt) == ["GATEWAY_BASEURL"]


def test_names_compare_as_pydantic_settings_does(settings: type[BaseSettings]) -> None:
    # case-insensitive settings: any case is the same variable; every choice of an alias counts
    assert settings.model_config.get("case_sensitive") is False
    assert unknown_to(settings, {"telegram_bot_token", "Port", "SHUTDOWN_TIMEOUT_S"}) == []


def test_what_the_bot_needs_on_railway_is_set(bot_variables: set[str]) -> None:
    # without a bind host of 0.0.0.0 Railway's edge and health check cannot reach the container
    assert {"BIND_HOST", "PORT", "DATABASE_URL", "GATEWAY_BASE_URL", "GATEWAY_API_KEY"} <= bot_variables


def test_the_settings_read_the_values_the_program_sets(
    settings: type[BaseSettings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only the names: the values the program renders parse into the fields (lists as JSON, numbers)."""
    config, secret_keys = stack_config(
        STACKS / "Pulumi.prod.yaml",
        {
            "TELEGRAM-BOT-TOKEN": "123456789:" + "A" * 35,
            "TELEGRAM-WEBHOOK-SECRET": "w" * 48,
        },
    )
    result = run_program("prod", config, secret_keys)
    variables = unwrap(result.named("bot-app-variables").inputs["variables"])
    for name, value in variables.items():
        # Railway resolves ${{...}} references at deploy time; give them plausible resolved values here
        resolved = "postgresql://u:p@postgres.railway.internal:5432/db" if name == "DATABASE_URL" else value
        monkeypatch.setenv(name, str(resolved).replace("${{gateway.RAILWAY_PRIVATE_DOMAIN}}", "gateway"))
    loaded = settings()
    assert getattr(loaded, "bind_host", None) == "0.0.0.0"
    assert loaded.port == 8080  # type: ignore[attr-defined]
    assert loaded.gateway_base_url == "http://gateway:4000"  # type: ignore[attr-defined]
    assert set(loaded.routes) >= {loaded.default_route}  # type: ignore[attr-defined]
