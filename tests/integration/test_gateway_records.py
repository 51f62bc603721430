"""What the gateway spends and does, through the real proxy (two workers, the counter in the machine's Redis)
against the provider simulator: a JSON record per request, ``GET /budget``, ``GET /metrics`` and `llmstack spend`;
the prompt and the answer in the records only with the catalog's ``observability.log_content`` on."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.cli import main as llmstack
from infra.localgateway import LocalGateway
from infra.simulator import Behavior, ProviderSimulator
from tests.integration.conftest import (
    MASTER_KEY,
    PROVIDER_ENV,
    RedisBudget,
    chat,
    error_message,
    needs_redis,
    stack_spec,
    start_gateway,
)

pytestmark = needs_redis

DAY, YESTERDAY = "2026-12-01", "2026-11-30"
SPEC = stack_spec(
    "dev",
    gateway={"workers": 2, "shared_state": "redis"},
    budget={"daily_usd": 5, "timezone": "Europe/Berlin"},
)
RECORDS = '"llmstack_gateway.records.request_records"'
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}
RECORD_START = '{"event":"llmstack.request"'


class Gateway:
    """The running gateway, its log (where the records are) and its counter."""

    def __init__(self, gateway: LocalGateway, budget: RedisBudget, clock: Path | None = None) -> None:
        self.gateway, self.budget, self.clock = gateway, budget, clock
        self.url = gateway.url

    def lines(self) -> list[str]:
        """The record lines as the gateway wrote them."""
        return [line for line in self.gateway.log_tail(100_000).splitlines() if line.startswith(RECORD_START)]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]

    def line(self, request_id: str) -> str:
        """The one record line of a request, as written (its ``request_id`` is the ``x-litellm-call-id``)."""
        self.record(request_id)
        (found,) = [line for line in self.lines() if f'"request_id":"{request_id}"' in line]
        return found

    def record(self, request_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [r for r in self.records() if r["request_id"] == request_id]
            if found:
                assert len(found) == 1, found
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no record for {request_id}:\n{self.gateway.log_tail(30)}")

    def last_record(self, timeout_s: float = 5.0, **match: Any) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [r for r in self.records() if all(r.get(k) == v for k, v in match.items())]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no record matching {match}:\n{self.gateway.log_tail(60)}")


@pytest.fixture(scope="module")
def running(simulator: ProviderSimulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    clock = tmp_path_factory.mktemp("clock") / "now"
    clock.write_text(f"{YESTERDAY}T12:00:00+01:00")
    with RedisBudget.fresh("llmstack-test") as budget:
        gateway = start_gateway(SPEC, simulator, workers=2, env=budget.gateway_env(clock))
        assert RECORDS in gateway.config_text, "llmstack render no longer registers the records callback"
        gateway.startup_timeout_s = (
            300  # two workers importing LiteLLM on a busy 2-core box (measured: 210 s)
        )
        with gateway.running():
            yield Gateway(gateway, budget, clock)


@pytest.fixture(autouse=True)
def healthy(simulator: ProviderSimulator) -> None:
    simulator.reset()


def nano(usd: float) -> int:
    return round(usd * 1e9)


def test_records_budget_metrics_and_spend(
    running: Gateway, simulator: ProviderSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # yesterday: one request, so the history has two days
    assert chat(running.gateway, "gemini-flash", max_tokens=8).status_code == 200
    running.clock.write_text(f"{DAY}T12:00:00+01:00")
    spent_before = running.budget.spent_nano(DAY)
    assert spent_before == 0

    # a normal request, through a route: the record names the route, its group and what served, and the cost
    # equals LiteLLM's x-litellm-response-cost
    normal = chat(running.gateway, "balanced", max_tokens=16)
    assert normal.status_code == 200, normal.text
    record = running.record(normal.headers["x-litellm-call-id"])
    assert record["endpoint"] == "/v1/chat/completions" and record["streamed"] is False
    assert (record["asked"], record["group"]) == ("balanced", "claude-sonnet")
    assert record["client"] == "operator"  # the master key: this local config accepts it for completions
    assert (record["deployment"], record["provider"], record["outcome"]) == (
        "dev-claude-sonnet",
        "anthropic",
        "ok",
    )
    assert record["attempts"] == [
        {
            "group": "claude-sonnet",
            "deployment": "dev-claude-sonnet",
            "provider": "anthropic",
            "outcome": "ok",
            "status": 200,
        }
    ]
    assert record["input_tokens"] > 0 and record["output_tokens"] > 0 and record["latency_s"] > 0
    assert nano(record["cost_usd"]) == nano(float(normal.headers["x-litellm-response-cost"])) > 0
    assert nano(record["budget"]["spent_usd"]) == running.budget.spent_nano(DAY) == nano(record["cost_usd"])
    assert record["budget"]["cap_usd"] == 5
    text = json.dumps(record)
    assert MASTER_KEY not in text and '"hi"' not in text and "messages" not in text  # no key, no prompt

    # a fallback: the primary's 500 is an attempt, the fallback served and its cost is the record's
    simulator.set("anthropic", "500")
    fallback = chat(running.gateway, "claude-sonnet", max_tokens=16)
    assert fallback.status_code == 200, fallback.text
    record = running.record(fallback.headers["x-litellm-call-id"])
    assert record["outcome"] == "fallback"
    assert [(a["deployment"], a["outcome"]) for a in record["attempts"]] == [
        ("dev-claude-sonnet", "5xx"),
        ("dev-gemini-pro", "ok"),
    ]
    assert (record["deployment"], record["provider"]) == ("dev-gemini-pro", "gemini")
    assert nano(record["cost_usd"]) == nano(float(fallback.headers["x-litellm-response-cost"])) > 0
    simulator.reset()

    # a streamed request: time to first token, and the cost the counter settled
    before = running.budget.spent_nano(DAY)
    payload = {"model": "gemini-flash", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST", f"{running.url}/v1/chat/completions", json=payload, headers=AUTH, timeout=60
    ) as r:
        assert r.status_code == 200
        streamed_id = r.headers["x-litellm-call-id"]
        r.read()
    record = running.record(streamed_id)
    assert record["streamed"] is True and record["outcome"] == "ok"
    assert 0 < record["ttft_s"] <= record["latency_s"]
    assert running.budget.wait_until_no_hold(DAY) == 0
    assert nano(record["cost_usd"]) == running.budget.spent_nano(DAY) - before > 0

    # refused by the budget: the reason, nothing spent
    before = running.budget.spent_nano(DAY)
    refused = chat(running.gateway, "claude-sonnet", max_tokens=8192, n=1000)
    assert refused.status_code == 429, refused.text
    record = running.last_record(outcome="refused")
    assert record["refusal"] == "daily_budget_exhausted" and record["status"] == 429
    assert record["attempts"] == [] and record["provider"] is None  # no provider was called (issue 12)
    assert record["cost_usd"] == 0 and running.budget.spent_nano(DAY) == before

    # failed everywhere: every attempt's outcome, the hold released, nothing spent
    for provider in ("anthropic", "gemini"):
        simulator.set(provider, "503")
    failed = chat(running.gateway, "gemini-flash", max_tokens=8)
    assert failed.status_code >= 500, failed.text
    record = running.last_record(outcome="error", group="gemini-flash")
    assert record["status"] >= 500 and record["cost_usd"] == 0 and record["latency_s"] > 0
    assert {a["outcome"] for a in record["attempts"]} == {"5xx"}, record["attempts"]
    assert running.budget.spent_nano(DAY) == before
    simulator.reset()

    # more load, so both workers serve (each writes its own records and metrics)
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(
            pool.map(lambda _: chat(running.gateway, "gemini-flash", max_tokens=8).status_code, range(24))
        )
    assert statuses == [200] * 24
    time.sleep(0.3)
    records = running.records()
    today = [r for r in records if r["budget"]["day"] == DAY]
    assert len({r["worker"] for r in records}) == 2, "one worker served everything: the test proves nothing"

    # every settled nano-dollar of the day is in exactly one record
    assert running.budget.wait_until_no_hold(DAY) == 0
    assert sum(nano(r["cost_usd"]) for r in today) == running.budget.spent_nano(DAY)

    # GET /budget: the counter's figures, split by group and provider, and the history
    assert httpx.get(f"{running.url}/budget", timeout=10).status_code == 401
    wrong = httpx.get(f"{running.url}/budget", headers={"Authorization": "Bearer sk-wrong"}, timeout=10)
    assert wrong.status_code == 401, wrong.text
    report = httpx.get(f"{running.url}/budget", params={"days": 3}, headers=AUTH, timeout=10).json()
    assert nano(report["spent_usd"]) == running.budget.spent_nano(DAY)
    assert report["held_usd"] == 0 and report["cap_usd"] == 5
    assert (report["day"], report["timezone"], report["resets_at"]) == (
        DAY,
        "Europe/Berlin",
        "2026-12-02T00:00:00+01:00",
    )
    assert sum(nano(v) for v in report["by_group"].values()) == nano(report["spent_usd"])
    assert sum(nano(v) for v in report["by_provider"].values()) == nano(report["spent_usd"])
    by_group: dict[str, int] = {}
    for r in today:
        by_group[r["group"]] = by_group.get(r["group"], 0) + nano(r["cost_usd"])
    assert {g: nano(v) for g, v in report["by_group"].items()} == {g: v for g, v in by_group.items() if v}
    assert set(report["by_provider"]) == {"anthropic", "gemini"}
    assert [d["day"] for d in report["history"]] == [DAY, YESTERDAY, "2026-11-29"]
    assert report["history"][1]["requests"] == 1 and report["history"][1]["spent_usd"] > 0
    assert report["history"][2] == {
        "day": "2026-11-29",
        "spent_usd": 0.0,
        "requests": 0,
        "by_group": {},
        "by_provider": {},
        "by_client": {},
    }

    # GET /metrics from either worker: both workers' series, summed
    assert httpx.get(f"{running.url}/metrics", timeout=10).status_code == 401
    scraped = httpx.get(f"{running.url}/metrics", headers=AUTH, timeout=10)
    assert scraped.status_code == 200
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }

    def total(name: str, **labels: str) -> float:
        return sum(
            v
            for (n, ls), v in samples.items()
            if n == name and all(dict(ls).get(k) == x for k, x in labels.items())
        )

    assert total("llmstack_gateway_requests_total") == len(records)
    assert total("llmstack_gateway_requests_total", outcome="fallback") == 1
    assert total("llmstack_gateway_requests_total", outcome="refused") == 1
    assert total("llmstack_gateway_fallbacks_total", group="claude-sonnet", provider="gemini") == 1
    assert total("llmstack_gateway_errors_total", outcome="5xx") >= 3
    # a refusal never started: the only record without a latency
    timed = [r for r in records if r["latency_s"] is not None]
    assert [r["outcome"] for r in records if r["latency_s"] is None] == ["refused"]
    assert total("llmstack_gateway_request_seconds_count") == len(timed)
    assert total("llmstack_gateway_time_to_first_token_seconds_count") == 1
    assert nano(total("llmstack_gateway_cost_usd_total")) == pytest.approx(
        sum(nano(r["cost_usd"]) for r in records), abs=10
    )
    assert nano(total("llmstack_budget_spent_usd")) == running.budget.spent_nano(DAY)
    assert total("llmstack_budget_cap_usd") == 5 and total("llmstack_budget_counter_up") == 1

    # llmstack spend against the running gateway: the same numbers, as a screen and as JSON
    assert (
        llmstack(["spend", "--stack", "dev", "--url", running.url, "--key", MASTER_KEY, "--days", "3"]) == 0
    )
    screen = capsys.readouterr().out
    assert f"stack dev: budget day {DAY} (Europe/Berlin)" in screen
    assert f"spent ${report['spent_usd']:,.6f} of $5" in screen
    assert "claude-sonnet" in screen and "gemini" in screen and YESTERDAY in screen
    assert (
        llmstack(["spend", "--stack", "dev", "--url", running.url, "--key", MASTER_KEY, "--format", "json"])
        == 0
    )
    assert nano(json.loads(capsys.readouterr().out)["spent_usd"]) == running.budget.spent_nano(DAY)
    assert llmstack(["spend", "--stack", "dev", "--url", running.url, "--key", "sk-wrong"]) == 1
    assert "refused the key (401)" in capsys.readouterr().err


def test_refusal_message_is_unchanged_by_the_records(running: Gateway) -> None:
    """The records callback runs after the budget's refusal and must not swallow or rewrite it."""
    refused = chat(running.gateway, "claude-sonnet", max_tokens=8192, n=1000)
    assert refused.status_code == 429
    assert "cannot cover this request" in error_message(refused)


def test_a_client_gone_mid_answer_names_the_deployment_and_its_cost_adds_up_by_provider(
    running: Gateway, simulator: ProviderSimulator
) -> None:
    """Issue 12: a hang-up mid-stream (499) records the deployment that was answering, so /metrics' cost by
    provider and /budget's by_provider agree (no provider "none")."""
    simulator.set(
        "anthropic", Behavior(chunk_delay_ms=150)
    )  # 16 deltas take 2.4 s: the hang-up lands mid-way
    payload = {
        "model": "claude-sonnet",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "max_tokens": 16,
    }
    deltas = 0
    with httpx.stream(
        "POST", f"{running.url}/v1/chat/completions", json=payload, headers=AUTH, timeout=30
    ) as response:
        assert response.status_code == 200
        streamed_id = response.headers["x-litellm-call-id"]
        for line in response.iter_lines():
            if line.startswith("data: {") and '"content"' in line:
                deltas += 1
                if deltas == 3:
                    break
    # (a hang-up before a plain answer is the failure hook's 499, which this proxy does not reliably notice in a
    # test's time: LiteLLM finished the call and answered 200 here; its record is the unit tests')
    record = running.record(streamed_id)
    assert (record["status"], record["deployment"], record["provider"]) == (
        499,
        "dev-claude-sonnet",
        "anthropic",
    ), record
    assert [(a["deployment"], a["outcome"]) for a in record["attempts"]] == [
        ("dev-claude-sonnet", "client_closed")
    ]
    assert record["cost_usd"] > 0
    simulator.reset()

    # every settled nano-dollar, by provider: the metrics' (the records') and the counter's split agree
    def budget() -> dict[str, Any]:
        return dict(httpx.get(f"{running.url}/budget", params={"days": 3}, headers=AUTH, timeout=10).json())

    assert running.budget.wait_until_no_hold(budget()["day"]) == 0
    report = budget()
    by_provider: dict[str, int] = {}
    for day in report["history"]:
        for provider, usd in day["by_provider"].items():
            by_provider[provider] = by_provider.get(provider, 0) + nano(usd)
    scraped = httpx.get(f"{running.url}/metrics", headers=AUTH, timeout=10)
    cost: dict[str, int] = {}
    for family in text_string_to_metric_families(scraped.text):
        for sample in family.samples:
            if sample.name == "llmstack_gateway_cost_usd_total":
                provider = sample.labels["provider"]
                cost[provider] = cost.get(provider, 0) + nano(sample.value)
    assert "none" not in cost and set(cost) == set(by_provider), (cost, by_provider)
    records = len(running.records())
    for provider, amount in by_provider.items():
        assert cost[provider] == pytest.approx(amount, abs=records), provider


# -- content (issue 12: "never the prompt or the answer unless the catalog says so") -------------------------

#: the catalog's observability.log_content on, no exporter: only the records carry content
CONTENT_SPEC = stack_spec(
    "dev",
    gateway={"workers": 1, "shared_state": "redis"},
    budget={"daily_usd": 5, "timezone": "UTC"},
    observability={"log_content": True},
)


@pytest.fixture(scope="module")
def content_on(simulator: ProviderSimulator) -> Iterator[Gateway]:
    with RedisBudget.fresh("llmstack-test") as budget:
        gateway = start_gateway(CONTENT_SPEC, simulator, env=budget.gateway_env())
        assert "turn_off_message_logging: false" in gateway.config_text
        gateway.startup_timeout_s = 300
        with gateway.running():
            yield Gateway(gateway, budget)


def sse_data(response: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in response.iter_lines():
        if line.startswith("data: {"):
            yield json.loads(line[len("data: ") :])


def chat_text(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"])


def chat_delta_text(event: dict[str, Any]) -> str:
    return "".join(choice["delta"].get("content") or "" for choice in event["choices"])


def messages_text(answer: dict[str, Any]) -> str:
    return str(answer["content"][0]["text"])


def messages_delta_text(event: dict[str, Any]) -> str:
    return str(event["delta"].get("text") or "") if event.get("type") == "content_block_delta" else ""


def content_calls(url: str, prompt: str) -> dict[str, tuple[str, str]]:
    """Chat completions and Anthropic messages, plain and streamed, each asked ``prompt``: per call, its request
    id and the answer's text as the client received it."""
    messages = [{"role": "user", "content": prompt}]
    apis = {
        "chat": ("/v1/chat/completions", {"model": "gemini-flash"}, chat_text, chat_delta_text),
        "messages": (
            "/v1/messages",
            {"model": "claude-sonnet", "system": "answer briefly"},
            messages_text,
            messages_delta_text,
        ),
    }
    calls: dict[str, tuple[str, str]] = {}
    for name, (path, fields, text_of, delta_text_of) in apis.items():
        body = {**fields, "messages": messages, "max_tokens": 16}
        plain = httpx.post(f"{url}{path}", json=body, headers=AUTH, timeout=60)
        assert plain.status_code == 200, plain.text
        calls[name] = plain.headers["x-litellm-call-id"], text_of(plain.json())
        stream_body = {**body, "stream": True}
        with httpx.stream("POST", f"{url}{path}", json=stream_body, headers=AUTH, timeout=60) as streamed:
            assert streamed.status_code == 200
            text = "".join(delta_text_of(event) for event in sse_data(streamed))
            calls[f"{name} stream"] = streamed.headers["x-litellm-call-id"], text
    for name, (_, answer) in calls.items():
        # the simulator's text (infra/simulator/answer.py)
        assert "simulated answer" in answer, (name, answer)
    return calls


def no_key_in_any_line(gateway: Gateway) -> None:
    lines = gateway.lines()
    assert lines
    for secret in (MASTER_KEY, PROVIDER_ENV["ANTHROPIC_API_KEY"]):
        assert not [line for line in lines if secret in line]


def test_content_off_no_prompt_or_answer_in_any_record(running: Gateway) -> None:
    prompt = f"zebra-prompt-{uuid.uuid4().hex}"
    assert "turn_off_message_logging: true" in running.gateway.config_text
    for name, (request_id, answer) in content_calls(running.url, prompt).items():
        line = running.line(request_id)
        assert prompt not in line and answer not in line and "simulated answer" not in line, name
        assert '"content"' not in line and "answer briefly" not in line, name
    no_key_in_any_line(running)


def test_content_on_the_input_and_the_answer_in_every_record(content_on: Gateway) -> None:
    prompt = f"zebra-prompt-{uuid.uuid4().hex}"
    for name, (request_id, answer) in content_calls(content_on.url, prompt).items():
        line = content_on.line(request_id)
        assert len(line.encode()) < 4096, name
        content = json.loads(line)["content"]
        sent = json.loads(content["input"])
        assert sent["messages"] == [{"role": "user", "content": prompt}], name
        if name.startswith("messages"):
            assert sent["system"] == "answer briefly"
        assert content["answer"] == answer, name
        assert "cut" not in content, name
    no_key_in_any_line(content_on)


def test_content_on_a_huge_prompt_is_cut_and_says_so(content_on: Gateway) -> None:
    prompt = "zebra " * 20_000
    response = chat(
        content_on.gateway, "gemini-flash", max_tokens=8, messages=[{"role": "user", "content": prompt}]
    )
    assert response.status_code == 200, response.text
    line = content_on.line(response.headers["x-litellm-call-id"])
    assert len(line.encode()) <= 4096
    content = json.loads(line)["content"]
    assert content["input"].startswith('{"messages":[{"role":"user","content":"zebra zebra')
    assert content["cut"]["input"] > len(prompt) and "answer" not in content["cut"]
    assert "simulated answer" in content["answer"]
