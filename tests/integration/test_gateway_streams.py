"""Every endpoint x streamed or not x every provider wire format, through the real proxy with the real SDKs:
after each request no hold is open and the day's spend grew by exactly the request's real cost (the provider's
usage at the deployment's prices; for a non-streamed answer also LiteLLM's ``x-litellm-response-cost``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.simulator import Behavior, ProviderSimulator
from tests.integration.conftest import (
    MASTER_KEY,
    PROVIDER_ENV,
    RedisBudget,
    deployment_prices,
    needs_redis,
    stack_spec,
)

pytestmark = needs_redis
DAY = "2026-12-01"
CAP_USD = 5.0
SPEC = stack_spec(
    "prod",
    gateway={"replicas": 1, "workers": 1, "shared_state": "redis"},
    budget={"daily_usd": CAP_USD, "timezone": "UTC"},
)
#: a group per wire format: Anthropic Messages, OpenAI, Gemini
GROUPS = ["claude-sonnet", "gpt-4o", "gemini-flash"]
ENDPOINTS = ["chat", "completions", "messages", "responses"]
PROMPT = "Say something short about budgets."


@pytest.fixture(scope="module")
def budget() -> Iterator[RedisBudget]:
    with RedisBudget.fresh("llmstack-test-streams") as counter:
        yield counter


@pytest.fixture(scope="module")
def gateway(
    simulator: ProviderSimulator, budget: RedisBudget, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalGateway, dict[str, tuple[float, float]]]]:
    clock = tmp_path_factory.mktemp("clock") / "now"
    clock.write_text(f"{DAY}T12:00:00+00:00")
    config = render_gateway_config(SPEC, simulator.api_bases())
    env = {**PROVIDER_ENV, **budget.gateway_env(clock)}
    with LocalGateway(config, MASTER_KEY, env=env).running() as running:
        yield running, deployment_prices(config)


@dataclass
class Metered:
    """One test's view of the module's gateway, from ``start`` on: the providers' log and behaviours are fresh and
    the day's spend is noted, so ``spent`` and ``real_cost`` speak of this test's requests only."""

    url: str
    prices: dict[str, tuple[float, float]]
    simulator: ProviderSimulator
    budget: RedisBudget
    before: int = 0

    def start(self) -> None:
        self.simulator.reset()
        self.before = self.budget.spent_nano(DAY)

    def spent(self) -> int:
        """The day's spend added since ``start``, once every hold has ended (settled or released)."""
        assert self.budget.wait_until_no_hold(DAY) == 0
        assert self.budget.reserved_nano(DAY) == 0
        return self.budget.spent_nano(DAY) - self.before

    def real_cost(self) -> int:
        """What the providers billed since ``start``, in nano-USD: every answered request's usage at its
        deployment's prices."""
        total = 0.0
        for request in self.simulator.requests():
            if request.status == 200:
                price_in, price_out = self.prices[request.model]
                total += request.input_tokens * price_in + request.output_tokens * price_out
        return round(total * 1e9)


@pytest.fixture
def metered(
    gateway: tuple[LocalGateway, dict[str, tuple[float, float]]],
    simulator: ProviderSimulator,
    budget: RedisBudget,
) -> Metered:
    running, prices = gateway
    watch = Metered(running.url, prices, simulator, budget)
    watch.start()
    return watch


class StreamFailedError(Exception):
    """A streamed Responses API call that ended with ``response.failed``."""


def call(endpoint: str, group: str, stream: bool, url: str, **extra: Any) -> float | None:
    """One request with the SDK a real client of that API uses; LiteLLM's cost header when not streamed."""
    oai = openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, max_retries=0, timeout=30)
    messages: Any = [{"role": "user", "content": PROMPT}]
    if endpoint == "messages":
        claude = anthropic.Anthropic(base_url=url, api_key=MASTER_KEY, max_retries=0, timeout=30)
        if stream:
            with claude.messages.stream(model=group, max_tokens=64, messages=messages, **extra) as events:
                assert "".join(events.text_stream)
            return None
        raw = claude.messages.with_raw_response.create(model=group, max_tokens=64, messages=messages, **extra)
        assert raw.parse().content[0].type == "text"
        return float(raw.headers["x-litellm-response-cost"])
    if endpoint == "chat":
        if stream:
            chunks = list(oai.chat.completions.create(model=group, messages=messages, stream=True, **extra))
            assert all(chunk.choices for chunk in chunks)  # the usage chunk we asked for is stripped again
            return None
        raw_chat = oai.chat.completions.with_raw_response.create(model=group, messages=messages, **extra)
        assert raw_chat.parse().choices[0].message.content
        return float(raw_chat.headers["x-litellm-response-cost"])
    if endpoint == "completions":
        if stream:
            text_chunks = list(oai.completions.create(model=group, prompt=PROMPT, stream=True, **extra))
            assert text_chunks and all(
                chunk.choices for chunk in text_chunks
            )  # no usage chunk it did not ask for
            return None
        raw_text = oai.completions.with_raw_response.create(model=group, prompt=PROMPT, **extra)
        assert raw_text.parse().choices[0].text
        return float(raw_text.headers["x-litellm-response-cost"])
    if stream:
        events = list(oai.responses.create(model=group, input=PROMPT, stream=True, **extra))
        if events[-1].type == "response.failed":  # how the Responses API reports a failure once it streams
            raise StreamFailedError(str(events[-1]))
        assert events[-1].type == "response.completed"
        return None
    raw_response = oai.responses.with_raw_response.create(model=group, input=PROMPT, **extra)
    assert raw_response.parse().output_text
    return float(raw_response.headers["x-litellm-response-cost"])


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_every_endpoint_settles_to_the_real_cost(
    endpoint: str, group: str, stream: bool, metered: Metered
) -> None:
    header_cost = call(endpoint, group, stream, metered.url)
    spent = metered.spent()
    cost = metered.real_cost()
    assert cost > 0
    assert spent == cost
    if header_cost is not None:
        assert spent == round(header_cost * 1e9)


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_every_choice_is_reserved_and_settled(stream: bool, metered: Metered) -> None:
    call("chat", "gpt-4o", stream, metered.url, n=3)
    assert metered.spent() == metered.real_cost()
    (request,) = metered.simulator.requests()
    assert request.choices == 3


#: the providers claude-sonnet's chain tries, in order: it falls back to gemini-pro
CLAUDE_CHAIN = ["anthropic", "gemini"]
#: (endpoint, the group or route asked for, streamed): "balanced" is a route to claude-sonnet, so a route keeps its
#: group's fallbacks and budget on every API
FALLBACKS = [
    ("messages", "claude-sonnet", False),
    ("messages", "claude-sonnet", True),
    ("messages", "balanced", True),
    ("responses", "balanced", True),
]


@pytest.mark.parametrize(
    ("endpoint", "model", "stream"), FALLBACKS, ids=["-".join(map(str, case)) for case in FALLBACKS]
)
def test_a_fallback_settles_at_the_answering_deployments_cost(
    endpoint: str, model: str, stream: bool, metered: Metered
) -> None:
    metered.simulator.set("anthropic", "500")
    call(endpoint, model, stream, metered.url)
    assert metered.spent() == metered.real_cost()
    assert [r.provider for r in metered.simulator.requests()] == CLAUDE_CHAIN


def test_a_provider_error_releases_the_hold(metered: Metered) -> None:
    for provider in CLAUDE_CHAIN:
        metered.simulator.set(provider, "500")
    for endpoint in ENDPOINTS:
        for stream in (False, True):
            with pytest.raises((openai.APIError, anthropic.APIError, StreamFailedError)):
                call(endpoint, "claude-sonnet", stream, metered.url)
    assert metered.spent() == 0


#: (path, group, its provider, what marks a text delta in that API's stream, the output limit's name)
HANG_UPS = [
    ("chat/completions", "gpt-4o", "openai", '"content"', "max_tokens"),
    ("messages", "claude-sonnet", "anthropic", '"text_delta"', "max_tokens"),
    ("responses", "gemini-flash", "gemini", '"response.output_text.delta"', "max_output_tokens"),
]


@pytest.mark.parametrize(
    ("path", "group", "provider", "marker", "limit"), HANG_UPS, ids=["chat", "messages", "responses"]
)
def test_a_client_that_hangs_up_mid_stream_pays_what_was_generated(
    path: str, group: str, provider: str, marker: str, limit: str, metered: Metered
) -> None:
    metered.simulator.set(
        provider, Behavior(chunk_delay_ms=150)
    )  # 16 deltas take 2.4 s: the hang-up lands mid-way
    content = (
        {"input": PROMPT} if path == "responses" else {"messages": [{"role": "user", "content": PROMPT}]}
    )
    body = {"model": group, **content, "stream": True, limit: 16}
    received = 0
    with httpx.stream(
        "POST",
        f"{metered.url}/v1/{path}",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    ) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and marker in line:
                received += 1
                if received == 3:
                    break
    spent = metered.spent()
    requests = metered.simulator.requests()
    assert len(requests) == 1, requests
    (request,) = requests
    price_in, price_out = metered.prices[request.model]
    # never less than what reached the client, and well below the whole answer's worst case
    assert spent >= round((request.input_tokens * price_in + received * price_out) * 1e9)
    assert request.deltas_sent < 16  # the proxy stopped reading the provider when the client left
    assert spent < round((request.input_tokens + 400) * price_in * 1e9 + 16 * price_out * 1e9)


def test_an_api_the_gateway_does_not_serve_is_refused_by_name(metered: Metered) -> None:
    oai = openai.OpenAI(base_url=f"{metered.url}/v1", api_key=MASTER_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        oai.embeddings.create(model="gpt-4o", input="hi")
    assert "POST /v1/embeddings is not served by this gateway; served: POST /v1/chat/completions" in str(
        caught.value
    )
    assert metered.simulator.requests() == []


def test_a_client_that_hangs_up_before_a_plain_answer_pays_the_bound(metered: Metered) -> None:
    """LiteLLM cancels the provider call (499); the provider may still bill, and no usage comes back, so the
    request settles at its reservation: never less than the whole answer would have cost."""
    call("chat", "gpt-4o", False, metered.url, max_tokens=16)
    whole_answer = metered.real_cost()
    metered.start()
    metered.simulator.set("openai", Behavior(mode="slow", delay_ms=1500))
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 16}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{metered.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {MASTER_KEY}"},
            timeout=httpx.Timeout(10, read=0.5),
        )
    assert metered.spent() >= whole_answer


def test_a_timeout_releases_the_hold(metered: Metered) -> None:
    for provider in CLAUDE_CHAIN:
        metered.simulator.set(provider, "hang")
    # LiteLLM's per-request ``timeout`` (a litellm param) keeps the test short; the config's is 45 s
    body = {"model": "claude-sonnet", "messages": [{"role": "user", "content": PROMPT}], "timeout": 1}
    response = httpx.post(
        f"{metered.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    )
    assert response.status_code >= 400
    assert metered.spent() == 0
