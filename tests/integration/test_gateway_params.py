"""Capabilities are promises, dropped parameters are visible: the real proxy, the real OpenAI SDK, the simulator.

A group that claims ``json`` answers JSON for ``response_format: json_object`` whichever provider serves it, and
a parameter LiteLLM drops under ``drop_params: true`` is named in ``x-llmstack-dropped-params``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from infra.localgateway import LocalGateway
from infra.render import with_in_memory_counter
from infra.simulator import Behavior, ProviderSimulator
from tests.integration.conftest import MASTER_KEY, stack_spec, start_gateway

# prod's catalog (anthropic, openai, gemini), one process with an in-memory budget: a local run
SPEC = with_in_memory_counter(stack_spec("prod", budget={"daily_usd": 50}))
DROPPED = "x-llmstack-dropped-params"
JSON_OBJECT = {"type": "json_object"}
JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "cat", "schema": {"type": "object"}}}


@pytest.fixture(scope="module")
def gateway(simulator: ProviderSimulator) -> Iterator[LocalGateway]:
    with start_gateway(SPEC, simulator, env={"LLMSTACK_LOCAL": "1"}).running() as running:
        yield running


@pytest.fixture
def client(gateway: LocalGateway, simulator: ProviderSimulator) -> openai.OpenAI:
    simulator.reset()
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=60)


def ask(client: openai.OpenAI, model: str, **params: object) -> tuple[dict[str, str], str | None, object]:
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        **params,  # type: ignore[arg-type]
    )
    completion = raw.parse()
    message = completion.choices[0].message
    return dict(raw.headers), message.content, message.tool_calls


@pytest.mark.parametrize("model", ["claude-sonnet", "balanced"])
def test_json_object_on_anthropic_answers_a_json_object(client: openai.OpenAI, model: str) -> None:
    """LiteLLM alone sends Claude nothing for json_object (it answers prose); the forced JSON tool makes it JSON."""
    headers, content, tool_calls = ask(client, model, response_format=JSON_OBJECT)
    assert headers["x-litellm-model-group"] == "claude-sonnet"
    assert tool_calls is None  # the JSON tool is LiteLLM's own response-format tool, folded into the content
    assert isinstance(json.loads(content or ""), dict), content
    assert DROPPED not in headers  # nothing the client sent was dropped


@pytest.mark.parametrize("response_format", [JSON_OBJECT, JSON_SCHEMA], ids=["json_object", "json_schema"])
@pytest.mark.parametrize("model", ["claude-sonnet", "gpt-4o", "gemini-flash"])
def test_every_group_that_claims_json_answers_json_for_both_formats(
    client: openai.OpenAI, model: str, response_format: dict[str, object]
) -> None:
    """One group per wire format; the simulator answers prose unless the provider request turns JSON mode on."""
    headers, content, tool_calls = ask(client, model, response_format=response_format)
    assert headers["x-litellm-model-group"] == model
    assert tool_calls is None
    assert isinstance(json.loads(content or ""), dict), content
    assert DROPPED not in headers


def test_json_object_streamed_from_anthropic_is_a_json_object(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "Describe a cat as JSON."}],
        response_format=JSON_OBJECT,  # type: ignore[arg-type]
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert isinstance(json.loads(text), dict), text


def test_the_json_tool_is_not_sent_to_a_fallback_of_another_kind(
    client: openai.OpenAI, simulator: ProviderSimulator
) -> None:
    """The rewrite happens per deployment attempt: gemini-pro, serving claude-sonnet's fallback, gets plain
    json_object (LiteLLM maps it to response_mime_type), not a tool it would answer with a function call."""
    simulator.set("anthropic", Behavior(mode="500"))
    headers, content, tool_calls = ask(client, "claude-sonnet", response_format=JSON_OBJECT)
    assert headers["x-litellm-model-group"] == "gemini-pro"
    assert tool_calls is None and content
    providers = [r.provider for r in simulator.requests()]
    assert providers == ["anthropic", "gemini"]


def test_parameters_anthropic_cannot_take_are_named_in_a_header(client: openai.OpenAI) -> None:
    headers, content, _ = ask(client, "claude-sonnet", logprobs=True, seed=7, temperature=0.2, user="u-1")
    assert content
    # LiteLLM's get_supported_openai_params for anthropic lists temperature and user, not logprobs or seed
    assert headers[DROPPED] == "logprobs,seed"


def test_a_model_that_takes_every_parameter_sends_no_header(client: openai.OpenAI) -> None:
    headers, _, _ = ask(client, "gpt-4o", logprobs=True, seed=7, n=1)
    assert DROPPED not in headers


def test_the_header_names_what_the_fallback_that_served_dropped(
    client: openai.OpenAI, simulator: ProviderSimulator
) -> None:
    """gpt-4o takes logit_bias; when claude-sonnet serves gpt-4o's fallback, claude's drops are what the client
    needs to know."""
    simulator.set("openai", Behavior(mode="500"))
    headers, _, _ = ask(client, "gpt-4o", logit_bias={"50256": -100}, seed=1)
    assert headers["x-litellm-model-group"] == "claude-sonnet"
    assert headers[DROPPED] == "logit_bias,seed"


def test_a_streamed_response_carries_the_header(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        presence_penalty=0.5,
    )
    assert raw.headers[DROPPED] == "presence_penalty"
    assert "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)


def test_json_object_through_the_responses_api_on_anthropic(client: openai.OpenAI) -> None:
    """LiteLLM serves /v1/responses through its chat path, so each deployment attempt meets the same hook."""
    raw = client.responses.with_raw_response.create(
        model="claude-sonnet", input="Describe a cat as JSON.", text={"format": {"type": "json_object"}}
    )
    assert raw.headers["x-litellm-model-group"] == "claude-sonnet"
    assert isinstance(json.loads(raw.parse().output_text), dict)


def test_the_responses_api_and_text_completions_name_their_drops_too(client: openai.OpenAI) -> None:
    """LiteLLM serves both through the chat mapping for these providers, where the drop happens."""
    raw = client.responses.with_raw_response.create(
        model="claude-sonnet", input="hi", temperature=0.3, top_logprobs=2
    )
    assert raw.headers[DROPPED] == "top_logprobs"
    assert raw.parse().output_text
    completion = client.completions.with_raw_response.create(
        model="claude-sonnet", prompt="hi", seed=1, logprobs=2
    )
    assert completion.headers[DROPPED] == "logprobs,seed"
    assert completion.parse().choices[0].text


@pytest.mark.parametrize(
    "parameter, value",
    [
        # where a request goes and with which key: LiteLLM's body blocklist (proxy/auth/auth_utils.py,
        # is_request_body_safe) exists so a caller cannot point the provider's key at its own server
        ("api_base", "http://127.0.0.1:9/steal"),
        ("base_url", "http://127.0.0.1:9/steal"),
        # what is logged, and where traces go: the catalog's observability section, not a caller's
        ("turn_off_message_logging", False),
        ("langfuse_host", "http://127.0.0.1:9"),
    ],
)
def test_a_body_setting_what_only_the_catalog_may_is_a_400_naming_the_parameter(
    client: openai.OpenAI, gateway: LocalGateway, simulator: ProviderSimulator, parameter: str, value: object
) -> None:
    """LiteLLM answers these as 401 "Authentication Error" (500 without the ``prisma`` package), so the SDK
    reported a bad key; the gateway answers 400 (endpoints.body_refusal), nothing reaches a provider, and the
    record says refused."""
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="simple",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={parameter: value},
        )
    assert f"the request body may not set {parameter!r}" in str(refused.value)
    assert simulator.requests() == []  # refused before any provider call
    records = [
        json.loads(line)
        for line in gateway.log_tail(2000).splitlines()
        if line.startswith('{"event":"llmstack.request"')
    ]
    assert records[-1]["outcome"] == "refused"
    assert records[-1]["status"] == 400
    assert records[-1]["refusal"] == "parameter_not_allowed"
    assert records[-1]["attempts"] == []
    assert records[-1]["endpoint"] == "/v1/chat/completions"  # the path LiteLLM's auth noted


def test_a_url_as_a_fallback_is_a_400_too(client: openai.OpenAI, simulator: ProviderSimulator) -> None:
    """Another of LiteLLM's body refusals, one that names no parameter (auth_utils.py): a 400 with its reason."""
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="simple",
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"fallbacks": ["https://x.example/v1"]},
        )
    assert "the request body was refused: URL-valued fallback destination" in str(refused.value)
    assert simulator.requests() == []
