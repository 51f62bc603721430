"""Traces from the catalog, through the real proxy against the simulator: a fake OTLP collector and a fake Langfuse
receive the gateway's spans, joined to the caller's trace, carrying group, deployment, tokens and cost; never the
prompt, the answer or a key."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from infra.catalog import StackSpec
from infra.localgateway import LocalGateway, free_port
from infra.observability import gateway_trace_secrets, gateway_trace_variables
from infra.render import render_gateway_config, with_in_memory_counter
from infra.simulator import ProviderSimulator
from tests.fakes.langfuse_api import LangfuseApi
from tests.fakes.otlp_collector import OtlpCollector, ReceivedSpan
from tests.integration.conftest import MASTER_KEY, deployment_prices, stack_spec, start_gateway

OTLP_HEADER = ("x-otlp-api-key", "otlp-" + secrets.token_hex(8))
LANGFUSE_SECRET = "sk-lf-" + secrets.token_hex(8)
PROMPT_MARKER = "prompt-" + secrets.token_hex(6)
#: the simulator's answer text (infra/simulator): it must not leave the gateway either
ANSWER_MARKER = "simulated answer"
#: the span LiteLLM's otel callback opens per model call (litellm/integrations/opentelemetry.py)
LLM_SPAN = "litellm_request"


@pytest.fixture(scope="module")
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector(required_headers={OTLP_HEADER[0]: OTLP_HEADER[1]}).running() as running:
        yield running


@pytest.fixture(scope="module")
def langfuse() -> Iterator[LangfuseApi]:
    with LangfuseApi(
        public_key="pk-lf-" + secrets.token_hex(4), secret_key=LANGFUSE_SECRET
    ).running() as running:
        yield running


@pytest.fixture(scope="module")
def spec(collector: OtlpCollector, langfuse: LangfuseApi) -> StackSpec:
    section = {
        "otlp": {"endpoint": collector.base_url, "headers_secret": "OTLP-HEADERS"},
        "langfuse": {
            "host": langfuse.host,
            "public_key_secret": "LANGFUSE-PUBLIC",
            "secret_key_secret": "LANGFUSE-SECRET",
        },
    }
    return with_in_memory_counter(stack_spec("dev", observability=section))


@pytest.fixture(scope="module")
def gateway(
    spec: StackSpec, simulator: ProviderSimulator, collector: OtlpCollector, langfuse: LangfuseApi
) -> Iterator[LocalGateway]:
    # what the deployment puts in the gateway's variables: the plain ones, and each secret's value by its id
    values = {
        "OTLP-HEADERS": f"{OTLP_HEADER[0]}={OTLP_HEADER[1]}",
        "LANGFUSE-PUBLIC": langfuse.public_key,
        "LANGFUSE-SECRET": langfuse.secret_key,
    }
    env = {
        **gateway_trace_variables(spec),
        **{name: values[secret_id] for name, secret_id in gateway_trace_secrets(spec).items()},
        # the SDK's batch delay (OpenTelemetry SDK environment variables): 5 s by default, short for a test
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    gateway = start_gateway(spec, simulator, env=env)
    with gateway.running():
        yield gateway


@pytest.fixture(autouse=True)
def healthy(simulator: ProviderSimulator) -> None:
    simulator.reset()


def traceparent() -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{span_id}-01", trace_id, span_id


def call(gateway: LocalGateway, model: str, parent: str, **body: Any) -> httpx.Response:
    payload = {"model": model, "messages": [{"role": "user", "content": f"hi {PROMPT_MARKER}"}], **body}
    headers = {"Authorization": f"Bearer {MASTER_KEY}", "traceparent": parent}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=payload, headers=headers, timeout=60)


def llm_spans(receiver: OtlpCollector, trace_id: str) -> list[ReceivedSpan]:
    return receiver.wait_for(lambda s: s.trace_id == trace_id and s.name == LLM_SPAN)


def expected_cost(spec: StackSpec, provider_model: str, span: ReceivedSpan) -> float:
    prices = deployment_prices(render_gateway_config(spec))[provider_model.split("/", 1)[1]]
    return float(
        span.attributes["gen_ai.usage.input_tokens"] * prices[0]
        + span.attributes["gen_ai.usage.output_tokens"] * prices[1]
    )


def test_the_callers_trace_continues_with_group_deployment_tokens_and_cost(
    gateway: LocalGateway, collector: OtlpCollector, spec: StackSpec
) -> None:
    parent, trace_id, caller_span = traceparent()
    response = call(gateway, "simple", parent)
    assert response.status_code == 200, response.text
    (span,) = llm_spans(collector, trace_id)
    assert span.parent_span_id == caller_span  # one trace: the caller's span is the parent
    assert span.resource["service.name"] == "llmstack-gateway"
    assert span.resource["deployment.environment"] == "dev"
    attrs = span.attributes
    assert attrs["litellm.model_group"] == "gemini-flash"  # the route resolved to its group
    assert json.loads(attrs["hidden_params"])["model_id"] == "dev-gemini-flash"  # the deployment
    assert attrs["litellm.provider.model"] == "gemini/gemini-2.5-flash"
    usage = response.json()["usage"]
    assert attrs["gen_ai.usage.input_tokens"] == usage["prompt_tokens"] > 0
    assert attrs["gen_ai.usage.output_tokens"] == usage["completion_tokens"] > 0
    cost = expected_cost(spec, attrs["litellm.provider.model"], span)
    assert attrs["gen_ai.cost.total_cost"] == pytest.approx(cost, rel=1e-9)
    assert float(response.headers["x-litellm-response-cost"]) == pytest.approx(cost, rel=1e-9)
    # and nothing else from the gateway: FastAPI's own request spans are off (llmstack_gateway/framework_spans.py).
    # One batch processor exports spans in the order they end, and any span of the first request ends before the
    # next request starts: once the next one's span is in, the first's would be too.
    next_parent, next_trace, _ = traceparent()
    assert call(gateway, "simple", next_parent).status_code == 200
    assert llm_spans(collector, next_trace)
    assert [s.name for s in collector.spans if s.trace_id == trace_id] == [LLM_SPAN]


def test_a_request_without_traceparent_gets_its_own_trace_with_the_same_attributes(
    gateway: LocalGateway, collector: OtlpCollector
) -> None:
    marker = secrets.token_hex(4)
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gemini-pro", "messages": [{"role": "user", "content": marker}], "user": marker},
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    call_id = response.headers["x-litellm-call-id"]
    (span,) = collector.wait_for(lambda s: s.attributes.get("litellm.call_id") == call_id)
    assert span.name == LLM_SPAN
    assert span.attributes["litellm.model_group"] == "gemini-pro"
    assert span.attributes["gen_ai.usage.input_tokens"] > 0
    assert span.attributes["gen_ai.cost.total_cost"] > 0


def test_a_fallback_is_traced_under_the_group_that_served(
    gateway: LocalGateway, collector: OtlpCollector, simulator: ProviderSimulator, spec: StackSpec
) -> None:
    simulator.set("gemini", "500")
    parent, trace_id, _ = traceparent()
    response = call(gateway, "gemini-flash", parent)
    assert response.status_code == 200, response.text
    served = collector.wait_for(
        lambda s: s.trace_id == trace_id and s.attributes.get("litellm.model_group") == "claude-sonnet"
    )
    assert served, [s.name for s in collector.spans if s.trace_id == trace_id]
    span = served[0]
    assert json.loads(span.attributes["hidden_params"])["model_id"] == "dev-claude-sonnet"
    assert span.attributes["gen_ai.cost.total_cost"] == pytest.approx(
        expected_cost(spec, span.attributes["litellm.provider.model"], span), rel=1e-9
    )


def test_a_streamed_request_is_traced_with_its_tokens(
    gateway: LocalGateway, collector: OtlpCollector
) -> None:
    parent, trace_id, caller_span = traceparent()
    payload = {"stream": True, "stream_options": {"include_usage": True}}
    response = call(gateway, "gemini-pro", parent, **payload)
    assert response.status_code == 200
    assert "data: [DONE]" in response.text
    (span,) = llm_spans(collector, trace_id)
    assert span.parent_span_id == caller_span
    assert span.attributes["llm.is_streaming"] in ("True", True)
    assert span.attributes["gen_ai.usage.output_tokens"] > 0
    assert span.attributes["gen_ai.cost.total_cost"] > 0


def test_langfuse_gets_the_generation_with_its_keys(gateway: LocalGateway, langfuse: LangfuseApi) -> None:
    parent, trace_id, _ = traceparent()
    assert call(gateway, "balanced", parent).status_code == 200
    (span,) = llm_spans(langfuse, trace_id)
    assert span.attributes["langfuse.observation.type"] == "generation"
    assert span.attributes["langfuse.environment"] == "dev"
    assert span.attributes["llm.token_count.prompt"] > 0
    assert span.attributes["llm.cost.total"] > 0
    assert langfuse.refused == 0
    assert all(r.get("x-langfuse-ingestion-version") == "4" for r in langfuse.requests)


def test_no_prompt_answer_or_key_leaves_the_gateway(
    gateway: LocalGateway, collector: OtlpCollector, langfuse: LangfuseApi
) -> None:
    parent, trace_id, _ = traceparent()
    assert call(gateway, "simple", parent).status_code == 200
    assert llm_spans(collector, trace_id) and llm_spans(langfuse, trace_id)
    exported = json.dumps(
        [(dict(s.attributes), dict(s.resource)) for s in [*collector.spans, *langfuse.spans]], default=str
    )
    assert "redacted-by-litellm" in exported  # LiteLLM's placeholder (turn_off_message_logging)
    for leaked in (PROMPT_MARKER, ANSWER_MARKER, MASTER_KEY, OTLP_HEADER[1], LANGFUSE_SECRET):
        assert leaked not in exported


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_a_caller_cannot_undo_the_catalogs_redaction(
    gateway: LocalGateway, collector: OtlpCollector, langfuse: LangfuseApi, path: str
) -> None:
    """LiteLLM 1.108.7 lets a request undo the config's redaction (litellm_core_utils/redact_messages.py,
    should_redact_message_logging): its ``turn_off_message_logging`` parameter first, then this header. The
    parameter is refused with a 400 (test_gateway_params.py); the header must not reveal the prompt either."""
    parent, trace_id, _ = traceparent()
    marker = "override-" + secrets.token_hex(6)
    response = httpx.post(
        f"{gateway.url}{path}",
        json={"model": "simple", "max_tokens": 16, "messages": [{"role": "user", "content": marker}]},
        headers={
            "Authorization": f"Bearer {MASTER_KEY}",
            "traceparent": parent,
            "litellm-disable-message-redaction": "true",
        },
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert llm_spans(collector, trace_id) and llm_spans(langfuse, trace_id)
    exported = json.dumps(
        [dict(s.attributes) for s in [*collector.spans, *langfuse.spans] if s.trace_id == trace_id],
        default=str,
    )
    assert marker not in exported
    assert "redacted-by-litellm" in exported


def test_a_collector_that_is_down_costs_the_requests_nothing(simulator: ProviderSimulator) -> None:
    """Both receivers unreachable (a closed port): every request still answers, its record is written, and the
    exporters' complaints name the URL but never the headers or the Langfuse keys they carry."""
    dead = f"http://127.0.0.1:{free_port()}"
    header_value = "otlp-" + secrets.token_hex(8)
    section = {
        "otlp": {"endpoint": dead, "headers_secret": "OTLP-HEADERS"},
        "langfuse": {
            "host": dead,
            "public_key_secret": "LANGFUSE-PUBLIC",
            "secret_key_secret": "LANGFUSE-SECRET",
        },
    }
    spec = with_in_memory_counter(stack_spec("dev", observability=section))
    env = {
        **gateway_trace_variables(spec),
        "OTEL_HEADERS": f"x-otlp-api-key={header_value}",
        "LANGFUSE_PUBLIC_KEY": "pk-lf-" + secrets.token_hex(4),
        "LANGFUSE_SECRET_KEY": LANGFUSE_SECRET,
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # export (and fail) while the requests run
    }
    with start_gateway(spec, simulator, env=env).running() as gateway:
        for _ in range(10):
            assert call(gateway, "simple", traceparent()[0]).status_code == 200
        time.sleep(1)  # a few failed exports
        log = gateway.log_tail(5000)
    assert log.count('"event":"llmstack.request"') == 10
    assert "/v1/traces" in log  # the exporters did try, and said where
    for leaked in (header_value, LANGFUSE_SECRET, MASTER_KEY):
        assert leaked not in log
