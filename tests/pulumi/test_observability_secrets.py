"""The catalog's observability section under Pulumi mocks: its credentials become Secret Manager secrets and the
gateway's (secret) variables, like the provider keys; nothing of them reaches the config or the snapshot, and the
bot gets only the OTLP collector's (for its own spans), never Langfuse's keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.dryrun import ProgramRun, is_secret, run_program, unwrap
from tests.conftest import StackWorkspace

SECTION = {
    "otlp": {"endpoint": "https://otel.example.com:4318", "headers_secret": "OTLP-HEADERS"},
    "langfuse": {
        "host": "https://langfuse.example.com",
        "public_key_secret": "LANGFUSE-PUBLIC",
        "secret_key_secret": "LANGFUSE-SECRET",
    },
}
SUPPLIED = {
    "ANTHROPIC-API": "supplied-anthropic-key-1b2c",
    "TELEGRAM-BOT-TOKEN": "supplied-bot-token-3d4e",
    "OTLP-HEADERS": "x-honeycomb-team=supplied-otlp-5f6a",
    "LANGFUSE-PUBLIC": "pk-lf-supplied-7b8c",
}


@pytest.fixture
def result(ws: StackWorkspace, monkeypatch: pytest.MonkeyPatch) -> ProgramRun:
    ws.catalog["observability"] = SECTION
    ws.write()
    monkeypatch.chdir(ws.root)
    config: dict[str, Any] = {"llmstack:secrets": json.dumps(SUPPLIED)}
    run = run_program("test", config, ["llmstack:secrets"])
    assert run.error is None, run.error
    return run


def test_trace_credentials_are_secrets_of_the_stack(result: ProgramRun) -> None:
    secret_ids = result.exports["secret_ids"]
    assert secret_ids["OTLP-HEADERS"] == secret_ids["LANGFUSE-PUBLIC"] == "trace-credential"
    assert secret_ids["LANGFUSE-SECRET"] == "trace-credential"
    # a supplied value is written as a version; one not supplied is read from the latest version
    read = {args["secret"] for token, args in result.invokes if "getSecretVersion" in token}
    assert "LANGFUSE-SECRET" in read and "OTLP-HEADERS" not in read


def test_the_gateway_gets_the_exporters_variables_and_the_bot_none(result: ProgramRun) -> None:
    variables = result.named("gateway-app-variables").inputs["variables"]
    assert is_secret(variables)
    gateway = unwrap(variables)
    assert gateway["OTEL_EXPORTER"] == "otlp_http"
    assert gateway["OTEL_ENDPOINT"] == "https://otel.example.com:4318"
    assert gateway["OTEL_HEADERS"] == SUPPLIED["OTLP-HEADERS"]
    assert gateway["LANGFUSE_PUBLIC_KEY"] == SUPPLIED["LANGFUSE-PUBLIC"]
    assert gateway["LANGFUSE_SECRET_KEY"] == "out-of-band-LANGFUSE-SECRET"
    assert gateway["LANGFUSE_HOST"] == "https://langfuse.example.com"
    config = gateway["LITELLM_CONFIG_YAML"]
    assert '"otel", "langfuse_otel"' in config and "turn_off_message_logging: true" in config
    bot = unwrap(result.named("bot-app-variables").inputs["variables"])
    assert not {"OTEL_HEADERS", "LANGFUSE_PUBLIC_KEY", "LANGFUSE_SECRET_KEY"} & set(bot)
    assert SUPPLIED["LANGFUSE-PUBLIC"] not in bot.values()


def test_the_bot_exports_its_spans_to_the_same_collector(result: ProgramRun) -> None:
    bot = unwrap(result.named("bot-app-variables").inputs["variables"])
    # the SDK appends no path to the traces endpoint (OpenTelemetry SDK environment variables)
    assert bot["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == "https://otel.example.com:4318/v1/traces"
    assert bot["OTEL_EXPORTER_OTLP_HEADERS"] == SUPPLIED["OTLP-HEADERS"]
    assert bot["OTEL_SERVICE_NAME"] == "llmstack-bot"


def test_no_trace_credential_in_the_snapshot_or_public_exports(result: ProgramRun) -> None:
    public = json.dumps(result.snapshot()) + json.dumps(
        {k: v for k, v in result.exports.items() if not result.export_secrets[k]}
    )
    for value in (SUPPLIED["OTLP-HEADERS"], SUPPLIED["LANGFUSE-PUBLIC"], "out-of-band-LANGFUSE-SECRET"):
        assert value not in public
