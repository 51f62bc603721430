"""The per-request records and the metrics exposition in isolation, with a real budget hook and counter."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from fastapi import HTTPException
from litellm import ModelResponse
from litellm.types.utils import Usage
from llmstack_gateway import metrics
from llmstack_gateway.budget import DailyBudget
from llmstack_gateway.counter import to_nano
from llmstack_gateway.memory_counter import MemoryCounter
from llmstack_gateway.records import RequestRecords, attempt_outcome
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
        budget = DailyBudget(settings(), MemoryCounter())
        lines: list[str] = []
        records = RequestRecords(write=lines.append, budget=budget)
        data = request()
        for hook in (budget, records):  # the order the rendered config lists them
            data = await hook.async_pre_call_hook(None, None, data, "acompletion")
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


def test_a_refusal_is_recorded_with_its_reason_and_no_cost() -> None:
    async def scenario() -> list[str]:
        budget = DailyBudget(settings(daily_usd=1e-9), MemoryCounter())
        lines: list[str] = []
        records = RequestRecords(write=lines.append, budget=budget)
        data = request()
        try:
            await budget.async_pre_call_hook(None, None, data, "acompletion")
        except HTTPException as refusal:
            for hook in (budget, records):
                await hook.async_post_call_failure_hook(data, refusal, None)
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
    assert record["cost_usd"] == 0 and record["attempts"] == []


def test_a_failed_fallback_takes_its_outcome_from_litellms_error_text() -> None:
    async def scenario() -> dict[str, Any]:
        budget = DailyBudget(settings(), MemoryCounter())
        lines: list[str] = []
        records = RequestRecords(write=lines.append, budget=budget)
        data = request()
        for hook in (budget, records):
            data = await hook.async_pre_call_hook(None, None, data, "acompletion")
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
    from litellm.proxy._types import UserAPIKeyAuth
    from llmstack_gateway.clients import OPERATOR_FIELD

    async def scenario() -> list[str]:
        budget = DailyBudget(settings(), MemoryCounter())
        lines: list[str] = []
        records = RequestRecords(write=lines.append, budget=budget)
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
