"""The observability section rendered into LiteLLM's callbacks and the gateway's variables, never its keys."""

from __future__ import annotations

from typing import Any

import yaml

from infra.catalog import StackSpec
from infra.observability import gateway_trace_secrets, gateway_trace_variables
from infra.render import render_gateway_config
from tests.conftest import StackWorkspace

SECTION: dict[str, Any] = {
    "otlp": {"endpoint": "https://otel.example.com:4318", "headers_secret": "OTLP-HEADERS"},
    "langfuse": {
        "host": "https://langfuse.example.com",
        "public_key_secret": "LANGFUSE-PUBLIC",
        "secret_key_secret": "LANGFUSE-SECRET",
    },
}


def spec_with(ws: StackWorkspace, section: dict[str, Any] | None) -> StackSpec:
    if section is not None:
        ws.catalog["observability"] = section
    result = ws.check()
    assert result.spec is not None, [f.format() for f in result.findings]
    return result.spec


def rendered(spec: StackSpec) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(render_gateway_config(spec))
    return config


def test_no_section_no_trace_callback_but_content_redacted(ws: StackWorkspace) -> None:
    settings = rendered(spec_with(ws, None))["litellm_settings"]
    assert not {"otel", "langfuse_otel"} & set(settings["callbacks"])
    # the gateway's request records read the same setting: without it they could not tell log_content is off
    assert settings["turn_off_message_logging"] is True
    assert gateway_trace_variables(spec_with(ws, None)) == {}
    assert gateway_trace_secrets(spec_with(ws, None)) == {}


def test_both_exporters_rendered_after_our_hooks_with_content_redacted(ws: StackWorkspace) -> None:
    spec = spec_with(ws, SECTION)
    settings = rendered(spec)["litellm_settings"]
    assert settings["callbacks"][-2:] == ["otel", "langfuse_otel"]
    assert settings["callbacks"][0].startswith("llmstack_gateway.")
    assert settings["turn_off_message_logging"] is True


def test_log_content_lets_prompts_through(ws: StackWorkspace) -> None:
    settings = rendered(spec_with(ws, {**SECTION, "log_content": True}))["litellm_settings"]
    assert settings["turn_off_message_logging"] is False


def test_log_content_without_exporters_lets_prompts_into_records(ws: StackWorkspace) -> None:
    # an explicit false: the records log content only then (llmstack_gateway/content.py)
    settings = rendered(spec_with(ws, {"log_content": True}))["litellm_settings"]
    assert settings["turn_off_message_logging"] is False


def test_only_langfuse(ws: StackWorkspace) -> None:
    spec = spec_with(ws, {"langfuse": SECTION["langfuse"]})
    assert rendered(spec)["litellm_settings"]["callbacks"][-1] == "langfuse_otel"
    assert "otel" not in rendered(spec)["litellm_settings"]["callbacks"]
    assert "OTEL_ENDPOINT" not in gateway_trace_variables(spec)


def test_variables_name_what_litellm_reads_and_secrets_stay_ids(ws: StackWorkspace) -> None:
    spec = spec_with(ws, SECTION)
    assert gateway_trace_variables(spec) == {
        "OTEL_EXPORTER": "otlp_http",
        "OTEL_ENDPOINT": "https://otel.example.com:4318",
        "OTEL_SERVICE_NAME": "llmstack-gateway",
        "OTEL_ENVIRONMENT_NAME": "test",
        "USE_OTEL_LITELLM_REQUEST_SPAN": "true",
        "LANGFUSE_HOST": "https://langfuse.example.com",
        "LANGFUSE_TRACING_ENVIRONMENT": "test",
    }
    assert gateway_trace_secrets(spec) == {
        "OTEL_HEADERS": "OTLP-HEADERS",
        "LANGFUSE_PUBLIC_KEY": "LANGFUSE-PUBLIC",
        "LANGFUSE_SECRET_KEY": "LANGFUSE-SECRET",
    }
    text = render_gateway_config(spec)
    # neither the secret ids nor the endpoint go into the config: LiteLLM reads them from the environment
    for value in ("OTLP-HEADERS", "LANGFUSE-PUBLIC", "LANGFUSE-SECRET", "otel.example.com"):
        assert value not in text
