"""JSON mode where LiteLLM drops it, and the dropped-parameter set, checked against LiteLLM's own code."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import litellm
import pytest
from litellm.constants import RESPONSE_FORMAT_TOOL_NAME
from litellm.utils import get_optional_params
from llmstack_gateway.params import (
    DROPPED_HEADER,
    PENDING_REQUESTS,
    RequestParameters,
    dropped_parameters,
    sent_parameters,
    with_json_tool,
)

MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4o", "gemini": "gemini-2.5-pro"}
JSON_OBJECT = {"type": "json_object"}
MESSAGES = [{"role": "user", "content": "hi"}]


def litellm_unsupported(provider: str, params: dict[str, Any]) -> list[str]:
    """What LiteLLM itself refuses without drop_params: ``get_optional_params`` raises naming exactly the set it
    would drop with it (``_check_valid_arg`` in litellm/utils.py)."""
    assert litellm.drop_params is not True
    try:
        get_optional_params(
            model=MODELS[provider],
            custom_llm_provider=provider,
            messages=MESSAGES,
            drop_params=False,
            **params,
        )
    except litellm.UnsupportedParamsError as exc:
        listed = re.search(r"does not support parameters: \[([^\]]*)\]", str(exc))
        assert listed, str(exc)
        return sorted(name.strip(" '") for name in listed.group(1).split(","))
    return []


def test_sent_parameters_are_the_non_default_openai_ones() -> None:
    body = {
        "model": "claude-sonnet",
        "messages": MESSAGES,
        "metadata": {"x": 1},
        "litellm_call_id": "abc",
        "temperature": None,
        "seed": 3,
        "logprobs": True,
    }
    assert sent_parameters(body) == {"seed": 3, "logprobs": True}


CASES = [
    {"logprobs": True, "seed": 3, "temperature": 0.2},
    {"n": 2, "presence_penalty": 0.5, "frequency_penalty": 0.1, "top_p": 0.9},
    {"logit_bias": {"50256": -100}, "top_logprobs": 2, "logprobs": True, "stop": ["x"]},
    {"user": "u-1", "stream_options": {"include_usage": True}, "max_tokens": 10, "n": 1},
    {"parallel_tool_calls": True, "reasoning_effort": "low", "response_format": JSON_OBJECT},
]


@pytest.mark.parametrize("provider", sorted(MODELS))
@pytest.mark.parametrize("params", CASES)
def test_the_dropped_set_is_the_one_litellm_drops(provider: str, params: dict[str, Any]) -> None:
    ours = dropped_parameters(sent_parameters(params), params, MODELS[provider], provider)
    assert ours == litellm_unsupported(provider, params)


def test_anthropic_drops_what_its_supported_list_lacks() -> None:
    params = {"logprobs": True, "seed": 3, "n": 2, "temperature": 0.2, "user": "u-1"}
    assert dropped_parameters(sent_parameters(params), params, MODELS["anthropic"], "anthropic") == [
        "logprobs",
        "n",
        "seed",
    ]


def test_allowed_and_explicitly_dropped_parameters_count_as_litellm_counts_them() -> None:
    params = {"seed": 3, "temperature": 0.2}
    body = {**params, "allowed_openai_params": ["seed"], "additional_drop_params": ["temperature"]}
    assert dropped_parameters(sent_parameters(params), body, MODELS["anthropic"], "anthropic") == [
        "temperature"
    ]


def test_litellm_alone_sends_anthropic_nothing_for_json_object() -> None:
    """Why claude-sonnet answered prose: only LiteLLM's internal json_mode flag survives the mapping."""
    optional = get_optional_params(
        model=MODELS["anthropic"],
        custom_llm_provider="anthropic",
        messages=MESSAGES,
        response_format=JSON_OBJECT,
    )
    assert optional == {"json_mode": True}


def test_the_json_tool_is_forced_and_litellm_sends_it_to_anthropic() -> None:
    request = {"model": "anthropic/claude-sonnet-4-6", "messages": MESSAGES, "response_format": JSON_OBJECT}
    rewritten = with_json_tool(request)
    assert (
        "tools" not in request
    )  # the caller's dict is left alone: a fallback to another kind must not see it
    optional = get_optional_params(
        model=MODELS["anthropic"],
        custom_llm_provider="anthropic",
        messages=MESSAGES,
        response_format=rewritten["response_format"],
        tools=rewritten["tools"],
        tool_choice=rewritten["tool_choice"],
    )
    assert [t["name"] for t in optional["tools"]] == [RESPONSE_FORMAT_TOOL_NAME]
    assert optional["tools"][0]["input_schema"]["type"] == "object"
    assert optional["tool_choice"] == {"type": "tool", "name": RESPONSE_FORMAT_TOOL_NAME}
    assert optional["json_mode"] is True  # so LiteLLM folds the tool's input back into the message content


def test_client_tools_keep_their_choice() -> None:
    client_tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    rewritten = with_json_tool({"response_format": JSON_OBJECT, "tools": [client_tool]})
    assert [t["function"]["name"] for t in rewritten["tools"]] == ["lookup", RESPONSE_FORMAT_TOOL_NAME]
    assert "tool_choice" not in rewritten


def test_thinking_is_never_combined_with_a_forced_tool() -> None:
    rewritten = with_json_tool(
        {"response_format": JSON_OBJECT, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    )
    assert "tool_choice" not in rewritten


HOOK = RequestParameters()


def deployment_hook(model: str, call_type: str = "acompletion", **params: Any) -> dict[str, Any] | None:
    kwargs = {"model": model, "messages": MESSAGES, **params}
    return asyncio.run(HOOK.async_pre_call_deployment_hook(kwargs, litellm.types.utils.CallTypes(call_type)))


def test_the_deployment_hook_rewrites_json_object_only_for_anthropic() -> None:
    rewritten = deployment_hook("anthropic/claude-sonnet-4-6", response_format=JSON_OBJECT)
    assert rewritten is not None and rewritten["tool_choice"]["function"]["name"] == RESPONSE_FORMAT_TOOL_NAME
    # LiteLLM's Responses bridge names the provider apart from the model
    bridged = deployment_hook(
        "claude-sonnet-4-6", custom_llm_provider="anthropic", response_format=JSON_OBJECT
    )
    assert bridged is not None and "tools" in bridged
    assert deployment_hook("openai/gpt-4o", response_format=JSON_OBJECT) is None
    assert deployment_hook("gemini/gemini-2.5-pro", response_format=JSON_OBJECT) is None
    assert deployment_hook("anthropic/claude-sonnet-4-6", response_format={"type": "text"}) is None
    assert deployment_hook("anthropic/claude-sonnet-4-6") is None


def headers_after(
    attempts: list[str], response: object = object(), call_type: str = "acompletion", **params: Any
) -> dict[str, str] | None:
    """One request: a deployment hook per attempt (fallbacks are further attempts), then the header hook."""
    call_id = f"call-{len(attempts)}-{sorted(params)}-{call_type}"
    for model in attempts:
        deployment_hook(model, call_type, litellm_call_id=call_id, **params)
    data = {"model": "g", "messages": MESSAGES, "litellm_call_id": call_id}
    return asyncio.run(HOOK.async_post_call_response_headers_hook(data, None, response, None, None))


def test_the_header_names_what_the_serving_deployment_dropped() -> None:
    claude, gpt, gemini = "anthropic/claude-sonnet-4-6", "openai/gpt-4o", "gemini/gemini-2.5-pro"
    assert headers_after([claude], logprobs=True, seed=1) == {DROPPED_HEADER: "logprobs,seed"}
    assert (
        headers_after([gemini], logprobs=True, seed=1, user="u") is None
    )  # gemini takes both; user is unchecked
    assert headers_after([gpt], logprobs=True, seed=1) is None
    # gpt-4o failed, claude-sonnet served: what claude dropped is what the client needs to know
    assert headers_after([gpt, claude], logit_bias={"1": 1}) == {DROPPED_HEADER: "logit_bias"}
    assert headers_after([claude], "atext_completion", seed=1) == {DROPPED_HEADER: "seed"}


def test_no_header_for_a_failure_or_outside_the_chat_mapping() -> None:
    assert headers_after(["anthropic/claude-sonnet-4-6"], None, logprobs=True) is None
    assert headers_after(["anthropic/claude-sonnet-4-6"], object(), "aresponses", logprobs=True) is None
    data = {"litellm_call_id": "never-seen"}
    assert asyncio.run(HOOK.async_post_call_response_headers_hook(data, None, object(), None, None)) is None


def test_requests_that_never_reach_the_header_hook_are_forgotten() -> None:
    hook = RequestParameters()
    for i in range(PENDING_REQUESTS + 10):
        kwargs = {"model": "anthropic/claude-sonnet-4-6", "seed": 1, "litellm_call_id": f"c{i}"}
        asyncio.run(hook.async_pre_call_deployment_hook(kwargs, litellm.types.utils.CallTypes("acompletion")))
    assert len(hook._dropped) == PENDING_REQUESTS
    assert "c0" not in hook._dropped and f"c{PENDING_REQUESTS + 9}" in hook._dropped


JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "cat", "schema": {"type": "object"}}}


def provider_request(provider: str, response_format: dict[str, Any]) -> dict[str, Any]:
    """What LiteLLM asks the provider for, after the gateway's deployment hook (``get_optional_params``)."""
    kwargs: dict[str, Any] = {"model": f"{provider}/{MODELS[provider]}", "response_format": response_format}
    kwargs = deployment_hook(kwargs["model"], response_format=response_format) or kwargs
    passed = {k: kwargs[k] for k in ("response_format", "tools", "tool_choice") if k in kwargs}
    optional: dict[str, Any] = get_optional_params(
        model=MODELS[provider], custom_llm_provider=provider, messages=MESSAGES, **passed
    )
    return optional


def asks_for_json(provider: str, optional: dict[str, Any]) -> bool:
    if provider == "openai":
        return optional.get("response_format", {}).get("type") in ("json_object", "json_schema")
    if provider == "gemini":
        return optional.get("response_mime_type") == "application/json"
    forced_tool = optional.get("tool_choice") == {"type": "tool", "name": RESPONSE_FORMAT_TOOL_NAME}
    return forced_tool or optional.get("output_format", {}).get("type") == "json_schema"


@pytest.mark.parametrize("response_format", [JSON_OBJECT, JSON_SCHEMA], ids=["json_object", "json_schema"])
@pytest.mark.parametrize("provider", sorted(MODELS))
def test_every_provider_kind_is_asked_for_json(provider: str, response_format: dict[str, Any]) -> None:
    """The promise behind `json`: whichever kind serves, the provider request carries a JSON directive."""
    assert asks_for_json(provider, provider_request(provider, response_format))
