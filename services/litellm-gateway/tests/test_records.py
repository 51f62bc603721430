"""The per-request records and the metrics exposition in isolation, with a real budget hook and counter."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any

import litellm
import pytest
from fastapi import HTTPException
from litellm import ModelResponse
from litellm.constants import LITELLM_LOGGING_NO_UPSTREAM_LLM_CALL, PROXY_REJECTED_BEFORE_ROUTING_KEY
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import Usage
from llmstack_gateway import metrics
from llmstack_gateway.attempts import Attempts, attempt_outcome
from llmstack_gateway.budget import CLIENT_CLOSED_REQUEST, DailyBudget
from llmstack_gateway.clients import CLIENT_FIELD, ClientAccess, parse_registry
from llmstack_gateway.content import PIPE_BUF, AnswerText, answer_text, request_input
from llmstack_gateway.counter import to_nano
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.records import RequestRecords
from llmstack_gateway.settings import BudgetSettings, GroupBudget
from prometheus_client.parser import text_string_to_metric_families


def settings(daily_usd: float = 1.0) -> BudgetSettings:
    return BudgetSettings(
        stack="test",
        daily_usd=daily_usd,
        alert_thresholds=(1.0,),
        timezone="UTC",
        allow_when_counter_unavailable=False,
        groups={"g": GroupBudget(3e-6, 15e-6, 100)},
        shared_state="none",
        alert_url=None,
        alert_secret=None,
        redis_url=None,
        key_prefix=f"test-{uuid.uuid4().hex}",
    )


#: the rendered config's setting (templates/litellm-config.yaml.j2): true unless the catalog's log_content is on
REDACTED: dict[str, Any] = {"litellm_settings": {"turn_off_message_logging": True}}


def recording(
    daily_usd: float = 1.0, config: dict[str, Any] = REDACTED
) -> tuple[DailyBudget, RequestRecords, list[str]]:
    """A budget hook (in-memory counter) and the records over it, each line written into the returned list."""
    budget = DailyBudget(settings(daily_usd), MemoryCounter())
    lines: list[str] = []
    return budget, RequestRecords(write=lines.append, budget=budget, config=config), lines


async def admitted(budget: DailyBudget, records: RequestRecords, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` through both pre-call hooks, in the order the rendered config lists them."""
    for hook in (budget, records):
        data = await hook.async_pre_call_hook(None, None, data, "acompletion")
    return data


CONTENT_ON: dict[str, Any] = {"litellm_settings": {"turn_off_message_logging": False}}


def request() -> dict[str, Any]:
    return {
        "model": "g",
        "messages": [{"role": "user", "content": "a secret prompt"}],
        "litellm_call_id": uuid.uuid4().hex,
        "proxy_server_request": {
            "url": "http://gw/v1/chat/completions",
            "method": "POST",
            "headers": {"authorization": "Bearer sk-master-secret"},
            "body": {"model": "g"},
        },
    }


def answered(cost: float) -> ModelResponse:
    # what LiteLLM hands the success hook for a plain chat answer: usage, and the cost in _hidden_params
    # (litellm/proxy/common_request_processing.py reads x-litellm-response-cost from there)
    response = ModelResponse(usage=Usage(prompt_tokens=12, completion_tokens=7, total_tokens=19))
    response._hidden_params["response_cost"] = cost
    return response


def test_a_plain_answer_is_recorded_at_the_budgets_cost_without_prompt_or_key() -> None:
    async def scenario() -> tuple[list[str], int]:
        budget, records, lines = recording()
        data = request()
        data = await admitted(budget, records, data)
        response = answered(0.000123)
        for hook in (budget, records):
            await hook.async_post_call_success_hook(data, None, response)
        spent, _ = await budget.counter.spent(budget.settings.day()[0])
        return lines, spent

    lines, spent = asyncio.run(scenario())
    assert len(lines) == 1 and lines[0].endswith("\n")
    record = json.loads(lines[0])
    assert record["outcome"] == "ok" and record["endpoint"] == "/v1/chat/completions"
    assert (record["input_tokens"], record["output_tokens"]) == (12, 7)
    assert to_nano(record["cost_usd"]) == spent == to_nano(0.000123)
    assert record["budget"] == {
        "day": record["budget"]["day"],
        "spent_usd": 0.000123,
        "held_usd": 0.0,
        "cap_usd": 1.0,
    }
    assert "secret prompt" not in lines[0] and "sk-master-secret" not in lines[0]


def test_a_budget_refusal_is_recorded_with_its_reason_no_cost_no_attempt_and_no_provider_error() -> None:
    before = errors_total()

    async def scenario() -> list[str]:
        budget, records, lines = recording(daily_usd=1e-9)
        data = request()
        try:
            await budget.async_pre_call_hook(None, None, data, "acompletion")
        except HTTPException as refusal:
            await refused_as_litellm_logs_it(records, budget, data, refusal, None)
        else:
            raise AssertionError("a request over the cap was admitted")
        # LiteLLM may call the failure hook again for the same request: still one record
        await records.async_post_call_failure_hook(data, HTTPException(status_code=500), None)
        return lines

    (line,) = asyncio.run(scenario())
    record = json.loads(line)
    assert (record["outcome"], record["status"], record["refusal"]) == (
        "refused",
        429,
        "daily_budget_exhausted",
    )
    assert record["cost_usd"] == 0 and record["attempts"] == [] and record["provider"] is None
    assert errors_total() == before


def test_a_failed_fallback_takes_its_outcome_from_litellms_error_text() -> None:
    async def scenario() -> dict[str, Any]:
        budget, records, lines = recording()
        data = request()
        data = await admitted(budget, records, data)
        call = {"litellm_call_id": data["litellm_call_id"], "custom_llm_provider": "anthropic"}
        primary = {
            **call,
            "litellm_params": {"model_info": {"id": "d-primary"}, "metadata": {"model_group": "g"}},
        }
        fallback = {
            **call,
            "litellm_params": {"model_info": {"id": "d-fallback"}, "metadata": {"model_group": "h"}},
        }
        records.log_pre_api_call("m", [], primary)
        await records.async_log_failure_event(
            {**primary, "exception": HTTPException(status_code=429)}, None, None, None
        )
        records.log_pre_api_call("m", [], fallback)  # fails too, and LiteLLM logs no second failure event
        # the text LiteLLM raises (router_utils/common_utils.py, format_fallback_outcome_message)
        error = HTTPException(
            status_code=429,
            detail="RateLimitError\n\nLiteLLM: model group 'g' failed with the error above. Fallback to h also "
            "failed: litellm.InternalServerError: boom",
        )
        for hook in (budget, records):
            await hook.async_post_call_failure_hook(data, error, None)
        return dict(json.loads(lines[0]))

    record = asyncio.run(scenario())
    assert record["outcome"] == "error"
    assert [(a["deployment"], a["outcome"], a["status"]) for a in record["attempts"]] == [
        ("d-primary", "429", 429),
        ("d-fallback", "5xx", 500),
    ]


def test_attempt_outcomes() -> None:
    assert attempt_outcome(429, None) == "429"
    assert attempt_outcome(503, None) == "5xx"
    assert attempt_outcome(None, TimeoutError()) == "timeout"
    assert attempt_outcome(400, None) == "error"


def test_the_budget_gauges_come_with_the_scrape_and_say_when_the_counter_is_down() -> None:
    up = metrics.exposition([metrics.BudgetGauges(0.25, 0.01, 10.0, reachable=True)]).decode()
    values = {s.name: s.value for f in text_string_to_metric_families(up) for s in f.samples}
    assert values["llmstack_budget_spent_usd"] == 0.25 and values["llmstack_budget_held_usd"] == 0.01
    assert values["llmstack_budget_cap_usd"] == 10.0 and values["llmstack_budget_counter_up"] == 1
    down = metrics.exposition([metrics.BudgetGauges(None, None, 10.0, reachable=False)]).decode()
    values = {s.name: s.value for f in text_string_to_metric_families(down) for s in f.samples}
    assert values["llmstack_budget_counter_up"] == 0 and "llmstack_budget_spent_usd" not in values
    # the scrape's gauges do not stay behind in the process's registry
    assert "llmstack_budget_cap_usd" not in metrics.exposition().decode()


def test_the_record_names_the_caller_auth_identified() -> None:
    # auth.py puts the caller into UserAPIKeyAuth.metadata; every hook gets that object from LiteLLM
    from llmstack_gateway.clients import OPERATOR_FIELD

    async def scenario() -> list[str]:
        budget, records, lines = recording()
        caller = UserAPIKeyAuth(api_key="llmstack-operator", metadata={OPERATOR_FIELD: True})
        data = request()
        for hook in (budget, records):
            data = await hook.async_pre_call_hook(caller, None, data, "acompletion")
        for hook in (budget, records):
            await hook.async_post_call_success_hook(data, caller, answered(0.000001))
        unnamed = request()
        for hook in (budget, records):
            unnamed = await hook.async_pre_call_hook(None, None, unnamed, "acompletion")
        for hook in (budget, records):
            await hook.async_post_call_success_hook(unnamed, None, answered(0.000001))
        return lines

    named, unnamed = (json.loads(line) for line in asyncio.run(scenario()))
    assert named["client"] == "operator"
    assert unnamed["client"] is None


# -- content (issue 12: "never the prompt or the answer unless the catalog says so") -------------------------

ANSWER = "the distinctive answer text"


def answered_with(text: str, cost: float = 0.000001) -> ModelResponse:
    # a chat answer as LiteLLM builds it (litellm/types/utils.py ModelResponse, Choices, Message)
    from litellm.types.utils import Choices, Message

    response = ModelResponse(
        choices=[Choices(index=0, message=Message(role="assistant", content=text))],
        usage=Usage(prompt_tokens=12, completion_tokens=7, total_tokens=19),
    )
    response._hidden_params["response_cost"] = cost
    return response


def one_plain_record(config: dict[str, Any], data: dict[str, Any], text: str = ANSWER) -> str:
    async def scenario() -> list[str]:
        budget, records, lines = recording(config=config)
        request_data = data
        for hook in (budget, records):
            request_data = await hook.async_pre_call_hook(None, None, request_data, "acompletion")
        for hook in (budget, records):
            await hook.async_post_call_success_hook(request_data, None, answered_with(text))
        return lines

    (line,) = asyncio.run(scenario())
    return line


@pytest.mark.parametrize(
    "config",
    [REDACTED, {"litellm_settings": {}}, {}],
    ids=["turned-off", "no-setting", "no-litellm-settings"],
)
def test_no_content_unless_the_config_says_false(config: dict[str, Any]) -> None:
    line = one_plain_record(config, request())
    assert "secret prompt" not in line and ANSWER not in line and "content" not in json.loads(line)
    assert "sk-master-secret" not in line


def test_content_on_carries_the_input_and_the_answer_but_no_key() -> None:
    line = one_plain_record(CONTENT_ON, request())
    content = json.loads(line)["content"]
    assert json.loads(content["input"]) == {"messages": [{"role": "user", "content": "a secret prompt"}]}
    assert content["answer"] == ANSWER and "cut" not in content
    assert "sk-master-secret" not in line and "authorization" not in line.lower()


def test_a_huge_prompt_is_cut_so_the_line_stays_within_pipe_buf() -> None:
    data = request()
    # quotes, newlines and non-ASCII take more room in the JSON line than they have characters
    huge = 'é"\n' * 40_000 + "TAIL-MARKER"
    data["messages"] = [{"role": "user", "content": huge}]
    line = one_plain_record(CONTENT_ON, data, text="an answer " * 1_000)
    assert len(line.encode()) <= PIPE_BUF and line.endswith("\n")
    content = json.loads(line)["content"]
    assert content["input"].startswith('{"messages":[{"role":"user","content":"é\\"\\n')
    assert "TAIL-MARKER" not in line
    assert content["cut"] == {"input": len(request_input(data) or ""), "answer": len("an answer " * 1_000)}
    assert content["answer"].startswith("an answer an answer")


def test_a_short_answer_leaves_its_room_to_the_input() -> None:
    data = request()
    data["messages"] = [{"role": "user", "content": "x" * 10_000}]
    content = json.loads(one_plain_record(CONTENT_ON, data, text="ok"))["content"]
    assert content["answer"] == "ok" and content["cut"] == {"input": len(request_input(data) or "")}
    # the input got nearly all the room: more than the half it would get beside a long answer
    assert len(content["input"]) > PIPE_BUF // 2


def test_the_input_of_each_api() -> None:
    assert request_input({"model": "g", "prompt": "p", "max_tokens": 3}) == '{"prompt":"p"}'
    anthropic = {"system": "be brief", "messages": [{"role": "user", "content": "m"}], "metadata": {"x": 1}}
    assert json.loads(request_input(anthropic) or "") == {
        "system": "be brief",
        "messages": [{"role": "user", "content": "m"}],
    }
    assert json.loads(request_input({"input": "i", "instructions": "s", "stream": True}) or "") == {
        "instructions": "s",
        "input": "i",
    }
    assert request_input({"model": "g"}) is None


def test_the_answer_of_each_api() -> None:
    from litellm.types.utils import TextChoices, TextCompletionResponse

    text = TextCompletionResponse(choices=[TextChoices(index=0, text="completed")])
    assert answer_text(text).text() == "completed"
    # an Anthropic Messages answer as the proxy returns it for /v1/messages (a dict: docs.anthropic.com Messages)
    message = {
        "content": [
            {"type": "text", "text": "a"},
            {"type": "tool_use", "input": {}},
            {"type": "text", "text": "b"},
        ]
    }
    assert answer_text(message).text() == "ab"
    # a Responses API answer (platform.openai.com Responses: output[].content[] of type output_text)
    response = {
        "output": [
            {"type": "reasoning", "summary": []},
            {"type": "message", "content": [{"type": "output_text", "text": "said"}]},
        ]
    }
    assert answer_text(response).text() == "said"
    assert answer_text({"output": [{"type": "function_call", "arguments": "{}"}]}).text() is None


def test_several_choices_are_one_after_the_other() -> None:
    from litellm.types.utils import Choices, Message

    response = ModelResponse(
        choices=[Choices(index=i, message=Message(role="assistant", content=f"choice {i}")) for i in range(2)]
    )
    answer = answer_text(response)
    assert answer.text() == "choice 0\n\nchoice 1" and answer.length == len("choice 0\n\nchoice 1")


def test_a_long_stream_keeps_only_what_a_line_can_carry_and_counts_the_rest() -> None:
    answer = AnswerText()
    for _ in range(1_000):
        answer.add(0, "0123456789")
    assert len(answer.text() or "") == PIPE_BUF and answer.length == 10_000


def test_a_streamed_answer_is_recorded_as_delivered() -> None:
    from litellm.types.utils import Delta, ModelResponseStream, StreamingChoices

    async def provider() -> Any:
        for piece in ("the distinctive ", "answer text"):
            yield ModelResponseStream(choices=[StreamingChoices(index=0, delta=Delta(content=piece))])

    async def scenario() -> list[str]:
        budget, records, lines = recording(config=CONTENT_ON)
        data = {**request(), "stream": True}
        data = await admitted(budget, records, data)
        # the proxy wraps the stream in the callbacks' order: the budget's inside, the records' outside
        stream = records.async_post_call_streaming_iterator_hook(
            None, budget.async_post_call_streaming_iterator_hook(None, provider(), data), data
        )
        async for _ in stream:
            pass
        return lines

    (line,) = asyncio.run(scenario())
    record = json.loads(line)
    assert record["streamed"] is True and record["content"]["answer"] == ANSWER
    assert "a secret prompt" in record["content"]["input"]


# -- refusals are not provider failures (issue 12): our hooks' 403 and 429s, a wrong key's 401, a client gone ---
CLIENTS_CONFIG: dict[str, Any] = {
    "llmstack_clients": {
        "clients": {"tools": {"key": "os.environ/LLMSTACK_CLIENT_TOOLS_KEY", "routes": ["simple"]}},
    }
}
ENV = {"LITELLM_MASTER_KEY": "sk-master-" + "m" * 30, "LLMSTACK_CLIENT_TOOLS_KEY": "sk-tools-" + "t" * 30}


def proxy_only_event(data: dict[str, Any], provider: str = "gemini") -> dict[str, Any]:
    """The ``model_call_details`` LiteLLM hands ``log_pre_api_call`` and ``async_log_failure_event`` for a request
    refused before routing (litellm/proxy/utils.py, ``_handle_logging_proxy_only_error`` with
    ``_stamp_deployment_attribution``): the group's provider guessed, its deployment only in the metadata, no
    ``model_info`` in ``litellm_params``, and the two markers of a call that never reached a provider."""
    return {
        "litellm_call_id": data["litellm_call_id"],
        "custom_llm_provider": provider,
        LITELLM_LOGGING_NO_UPSTREAM_LLM_CALL: True,
        "litellm_params": {
            "custom_llm_provider": provider,
            PROXY_REJECTED_BEFORE_ROUTING_KEY: True,
            "metadata": {
                "model_info": {"id": "dev-gemini-pro"},
                "deployment": "dev-gemini-pro",
                "model_group": "g",
            },
        },
    }


def errors_total() -> float:
    return sum(
        sample.value
        for metric in metrics.ERRORS.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )


async def refused_as_litellm_logs_it(
    records: RequestRecords, budget: DailyBudget, data: dict[str, Any], error: Exception, caller: Any
) -> None:
    """What the proxy does after a hook (or auth) refused: the proxy-only failure event, then the failure hooks."""
    event = proxy_only_event(data)
    records.log_pre_api_call("g", [], event)
    await records.async_log_failure_event({**event, "exception": error}, None, None, None)
    for hook in (budget, records):
        await hook.async_post_call_failure_hook(data, error, caller)


def one_record(lines: list[str]) -> dict[str, Any]:
    (line,) = lines
    return dict(json.loads(line))


def test_a_route_refusal_is_refused_with_its_reason_and_no_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = parse_registry(CLIENTS_CONFIG, ENV)
    monkeypatch.setattr("llmstack_gateway.clients.registry", lambda: registry)
    caller = SimpleNamespace(metadata={CLIENT_FIELD: "tools"})  # auth.py's UserAPIKeyAuth.metadata
    before = errors_total()

    async def scenario() -> list[str]:
        budget, records, lines = recording()
        data = request()
        try:
            await ClientAccess(registry).async_pre_call_hook(caller, None, data, "acompletion")
        except HTTPException as refusal:
            await refused_as_litellm_logs_it(records, budget, data, refusal, caller)
        else:
            raise AssertionError("the route was allowed")
        return lines

    record = one_record(asyncio.run(scenario()))
    assert (record["outcome"], record["status"], record["refusal"]) == ("refused", 403, "route_not_allowed")
    assert record["attempts"] == [] and record["provider"] is None and record["client"] == "tools"
    assert errors_total() == before


def test_a_wrong_key_is_refused_as_invalid_key() -> None:
    """auth.py's 401, as LiteLLM's auth handler passes it on: its own call id, an empty UserAPIKeyAuth."""
    before = errors_total()

    async def scenario() -> list[str]:
        budget, records, lines = recording()
        nobody = UserAPIKeyAuth(request_route="/v1/chat/completions")
        error = HTTPException(status_code=401, detail="Invalid or missing API key")
        await refused_as_litellm_logs_it(records, budget, request(), error, nobody)
        return lines

    record = one_record(asyncio.run(scenario()))
    assert (record["outcome"], record["status"], record["refusal"]) == ("refused", 401, "invalid_key")
    assert record["attempts"] == [] and record["client"] is None
    assert errors_total() == before


def test_a_callers_made_up_model_is_cut_in_the_record_and_no_metric_label() -> None:
    """Anyone may send a wrong key with any ``model``: the record keeps 128 characters of it, the line stays within
    the pipe's atomic write, and the metrics label it "other", so no caller adds series to every worker's files."""
    made_up = "m" * 5000 + uuid.uuid4().hex

    def labelled_groups() -> set[str]:
        return {s.labels["group"] for m in metrics.REQUESTS.collect() for s in m.samples}

    async def scenario() -> list[str]:
        budget, records, lines = recording()
        nobody = UserAPIKeyAuth(request_route="/v1/chat/completions")
        error = HTTPException(status_code=401, detail="Invalid or missing API key")
        await refused_as_litellm_logs_it(records, budget, {**request(), "model": made_up}, error, nobody)
        return lines

    (line,) = asyncio.run(scenario())
    record = json.loads(line)
    assert len(record["asked"]) == len(record["group"]) == 128 and record["group"].endswith("…")
    assert len(line.encode()) < 4096
    assert not {g for g in labelled_groups() if g.startswith("mmm")}
    assert "other" in labelled_groups()


def test_a_provider_rejecting_our_key_is_an_error_of_that_deployment() -> None:
    """A 401 from the provider (LiteLLM's AuthenticationError, litellm/exceptions.py) is no refusal of ours."""

    async def scenario() -> list[str]:
        budget, records, lines = recording()
        data = request()
        data = await admitted(budget, records, data)
        call = {
            "litellm_call_id": data["litellm_call_id"],
            "custom_llm_provider": "anthropic",
            "litellm_params": {"model_info": {"id": "d-claude"}, "metadata": {"model_group": "g"}},
        }
        error = litellm.AuthenticationError("invalid x-api-key", llm_provider="anthropic", model="claude")
        records.log_pre_api_call("g", [], call)
        await records.async_log_failure_event({**call, "exception": error}, None, None, None)
        for hook in (budget, records):
            await hook.async_post_call_failure_hook(data, error, None)
        return lines

    record = one_record(asyncio.run(scenario()))
    assert record["outcome"] == "error" and "refusal" not in record
    assert record["attempts"] == [
        {"group": "g", "deployment": "d-claude", "provider": "anthropic", "outcome": "error", "status": 401}
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"custom_llm_provider": "anthropic", "litellm_params": {"metadata": {"model_group": "g"}}},
        {
            "custom_llm_provider": "anthropic",
            "litellm_params": {"model_info": {"id": "d"}, PROXY_REJECTED_BEFORE_ROUTING_KEY: True},
        },
        {
            "custom_llm_provider": "anthropic",
            "litellm_params": {"model_info": {"id": "d"}},
            LITELLM_LOGGING_NO_UPSTREAM_LLM_CALL: True,
        },
    ],
    ids=["no deployment", "rejected before routing", "no upstream call"],
)
def test_an_event_that_reached_no_deployment_is_no_attempt(event: dict[str, Any]) -> None:
    attempts = Attempts()
    attempts.start(event)
    attempts.fail(event, HTTPException(status_code=429))
    assert attempts.items == []


def test_a_client_gone_before_a_plain_answer_names_the_deployment_that_was_answering() -> None:
    """The failure hook gets no logging object (proxy/utils.py ``post_call_failure_hook`` pops it before the
    callbacks): the attempt the client left names the deployment and provider, and the cost is theirs."""

    async def scenario() -> list[str]:
        budget, records, lines = recording()
        data = request()
        data = await admitted(budget, records, data)
        records.log_pre_api_call(
            "g",
            [],
            {
                "litellm_call_id": data["litellm_call_id"],
                "custom_llm_provider": "anthropic",
                "litellm_params": {"model_info": {"id": "d-claude"}, "metadata": {"model_group": "g"}},
            },
        )
        # the 499 is logged as a proxy-only error too: an event naming no deployment, which is no attempt
        closed = HTTPException(status_code=CLIENT_CLOSED_REQUEST)
        await refused_as_litellm_logs_it(records, budget, {**data, "litellm_logging_obj": None}, closed, None)
        return lines

    record = one_record(asyncio.run(scenario()))
    assert (record["outcome"], record["deployment"], record["provider"]) == (
        "client_closed",
        "d-claude",
        "anthropic",
    )
    assert record["attempts"] == [
        {
            "group": "g",
            "deployment": "d-claude",
            "provider": "anthropic",
            "outcome": "client_closed",
            "status": 499,
        }
    ]
    assert record["cost_usd"] > 0
