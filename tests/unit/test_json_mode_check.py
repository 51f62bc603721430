"""`json` is a promise: a group claiming it on a model that cannot answer both response formats is an error."""

from __future__ import annotations

from infra.catalog import Severity
from infra.checks.json_mode import json_gaps
from tests.conftest import StackWorkspace, one, only


def test_shipped_groups_keep_their_json_promise(ws: StackWorkspace) -> None:
    assert only(ws.findings(), "json-unsupported") == []


def test_an_anthropic_model_that_refuses_forced_tool_use(ws: StackWorkspace) -> None:
    # LiteLLM's map: claude-sonnet-5-5 has supports_forced_tool_use: false (the choice is downgraded to auto)
    ws.catalog["models"]["claude-sonnet"]["model"] = "claude-sonnet-5-5"
    finding = one(ws.findings(), "json-unsupported")
    assert finding.severity is Severity.ERROR
    assert finding.subject == "claude-sonnet"
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "models.claude-sonnet.capabilities"
    assert finding.location.line is not None
    assert "'claude-sonnet' claims json, but anthropic/claude-sonnet-5-5" in finding.message
    assert "refuses forced tool use" in finding.message
    assert "remove json from models.claude-sonnet.capabilities" in finding.fix


def test_an_openai_model_without_structured_outputs(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["model"] = "gpt-3.5-turbo-16k"
    ws.catalog["models"]["gpt-4o"]["context_window"] = 16385
    ws.catalog["models"]["gpt-4o"]["max_output_tokens"] = 4096
    finding = one(ws.findings(), "json-unsupported")
    assert "openai/gpt-3.5-turbo-16k" in finding.message
    assert "json_schema: the model takes no response schema" in finding.message


def test_a_gemini_model_without_a_response_schema(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-flash"]["model"] = "gemini-gemma-2-27b-it"
    finding = one(ws.findings(), "json-unsupported")
    assert finding.location.field == "models.gemini-flash.capabilities"
    assert "supports_response_schema" in finding.message


def test_a_group_that_does_not_claim_json_is_not_held_to_it(ws: StackWorkspace) -> None:
    ws.catalog["models"]["claude-sonnet"]["model"] = "claude-sonnet-5-5"
    for group in ws.catalog["models"].values():
        group["capabilities"] = [c for c in group["capabilities"] if c != "json"]
    assert only(ws.findings(), "json-unsupported") == []


def test_gaps_per_provider_kind() -> None:
    assert json_gaps("anthropic", {"supports_native_structured_output": True}) == [
        "json_object: the gateway's JSON tool needs tool use and tool_choice "
        "(supports_function_calling, supports_tool_choice)"
    ]
    assert len(json_gaps("anthropic", {})) == 2
    assert json_gaps("anthropic", {"supports_function_calling": True, "supports_tool_choice": True}) == []
    assert json_gaps("gemini", {"supports_response_schema": True}) == []
    assert json_gaps("mistral", {"supports_response_schema": True}) == [
        "no JSON mode is known for provider kind 'mistral'"
    ]
