"""The serving checks against stand-ins of the deployed gateway and bot on 127.0.0.1: good, failing, slow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2

from infra.serving import (
    NotServingError,
    Probe,
    ServingCheckProvider,
    bot_probes,
    gateway_probes,
    wait_until_serving,
)
from tests.pulumi.deployed_fakes import DeployedService, running
from tests.pulumi.provider_host import ProviderHost, provider_host

KEY = "master-key-for-tests-0123456789abcdef"
IDS = ("balanced", "simple", "claude-sonnet", "gemini-pro")
#: for checks that must fail: the deadline is what ends them
FAST = {"timeout_s": 0.3, "interval_s": 0.05, "request_timeout_s": 2.0}
#: for checks that must pass: they end at the first good answer, so a loaded machine cannot make them flaky
GENEROUS = {"timeout_s": 10.0, "interval_s": 0.05, "request_timeout_s": 5.0}


@pytest.fixture
def gateway() -> Iterator[tuple[DeployedService, str]]:
    service = DeployedService(key=KEY, model_ids=list(IDS))
    with running(service) as url:
        yield service, url


def check_gateway(url: str, key: str = KEY, ids: tuple[str, ...] = IDS, **timing: float) -> dict[str, int]:
    return wait_until_serving(url, gateway_probes(ids, "redis"), key=key, **{**GENEROUS, **timing})


def failure(url: str, probes: list[Probe], key: str | None = KEY, **timing: float) -> str:
    with pytest.raises(NotServingError) as caught:
        wait_until_serving(url, probes, key=key, **{**FAST, **timing})
    message = str(caught.value)
    assert KEY not in message
    return message


def test_a_serving_gateway_passes_each_check_once(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    attempts = check_gateway(url)
    assert list(attempts.values()) == [1, 1, 1]
    # the key goes only to the authenticated request
    assert service.requests == [("/health/ready", ""), ("/v1/models", ""), ("/v1/models", f"Bearer {KEY}")]


def test_a_domain_that_is_not_routed_yet_is_retried(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    service.unrouted_requests = 3
    attempts = check_gateway(url)
    assert attempts["gateway readiness"] == 4


def test_a_gateway_without_its_redis_fails_with_the_reason_and_what_to_do(
    gateway: tuple[DeployedService, str],
) -> None:
    service, url = gateway
    service.redis_down = True
    started = time.monotonic()
    message = failure(url, gateway_probes(IDS, "redis"))
    # bounded by timeout_s (plus one request at most), not by a number of attempts
    assert time.monotonic() - started < FAST["timeout_s"] + FAST["request_timeout_s"] + 1.0
    assert 'serving check "gateway readiness" failed' in message
    assert "/health/ready" in message and "within 0.3 s" in message
    assert "HTTP 503, expected 200" in message and "budget counter's Redis is unreachable" in message
    assert "what to do: 503: the gateway cannot reach its budget counter" in message


def test_a_gateway_on_the_in_memory_counter_fails(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    service.budget_counter = "memory"
    message = failure(url, gateway_probes(IDS, "redis"))
    assert '{"budget_counter": "memory"} where {"budget_counter": "redis"} was expected' in message


def test_a_wrong_key_fails_and_the_key_never_appears(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    service.key = "the-key-the-gateway-really-has-000000"
    service.echo_auth = True  # the 401 body repeats the header we sent
    message = failure(url, gateway_probes(IDS, "redis"))
    assert "gateway answers the stack's key with its routes and groups" in message
    assert "(with the key)" in message and "HTTP 401, expected 200" in message
    assert "Bearer [key]" in message  # the echoed key is masked in the excerpt
    assert "what to do: 401: the gateway runs with a master key other than LITELLM-MASTER-KEY" in message


def test_a_gateway_running_another_config_fails_naming_the_missing_routes(
    gateway: tuple[DeployedService, str],
) -> None:
    service, url = gateway
    service.model_ids = ["balanced", "claude-sonnet"]
    message = failure(url, gateway_probes(IDS, "redis"))
    assert "the list lacks simple, gemini-pro (it has balanced, claude-sonnet)" in message


def test_a_gateway_that_answers_without_a_key_fails(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    service.auth_off = True
    message = failure(url, gateway_probes(IDS, "redis"))
    assert 'serving check "gateway refuses a request without the key" failed' in message
    assert "HTTP 200, expected 401" in message
    assert "what to do: the gateway answered without a key" in message


def test_a_hanging_service_fails_within_the_time(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    service.delay_s = 2.0
    started = time.monotonic()
    message = failure(url, gateway_probes(IDS, "redis"), timeout_s=0.4, request_timeout_s=0.2)
    # one request timeout past the deadline at most (and slack for a loaded machine)
    assert time.monotonic() - started < 0.4 + 0.2 + 1.0
    assert "no answer (ReadTimeout)" in message


def test_a_container_that_does_not_listen_fails_with_the_edge_page(
    gateway: tuple[DeployedService, str],
) -> None:
    service, url = gateway
    service.not_listening = True
    message = failure(url, gateway_probes(IDS, "redis"))
    assert "HTTP 502, expected 200: <html><body><h1>Application failed to respond" in message


def test_nothing_listening_at_all_fails_without_a_traceback() -> None:
    message = failure("http://127.0.0.1:9", gateway_probes(IDS, "redis"))
    assert "no answer (ConnectError)" in message


def test_the_bot_health_check() -> None:
    bot = DeployedService()
    with running(bot) as url:
        assert wait_until_serving(url, bot_probes(), key=None, **GENEROUS) == {"bot health": 1}
        bot.database_down = True
        message = failure(url, bot_probes(), key=None)
    assert 'serving check "bot health" failed' in message and "OperationalError" in message
    assert "The Telegram webhook was not registered" in message


def test_a_long_body_is_cut_to_an_excerpt(gateway: tuple[DeployedService, str]) -> None:
    service, url = gateway
    service.model_ids = [f"route-{i:03d}" for i in range(200)]
    message = failure(url, gateway_probes(tuple(f"group-{i:03d}" for i in range(50)), None))
    answer = next(line for line in message.splitlines() if line.startswith("last answer"))
    assert (
        "lacks group-000, group-001, group-002, group-003, group-004, group-005, group-006, group-007 and 42 more"
        in answer
    )
    assert "(it has route-000, " in answer and "and 192 more)" in answer
    # the body excerpt: 300 characters and an ellipsis
    assert answer.endswith("…") and len(answer.split("more): ", 1)[1]) == 301


# --- the provider: check, diff, create/update, and the real host over gRPC --------------------------------


def props(url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": url,
        "probes": [p.as_props() for p in gateway_probes(IDS, "redis")],
        "revision": "deployment-1",
        "key": KEY,
        **FAST,
        **overrides,
    }


def test_check_refuses_plain_http_off_loopback_and_an_authenticated_probe_without_a_key() -> None:
    provider = ServingCheckProvider()
    result = provider.check({}, props("http://gateway.up.railway.app", key="", timeout_s=0))
    reasons = {f.property: f.reason for f in result.failures}
    assert reasons["base_url"] == "an https:// URL is required (got 'http://gateway.up.railway.app')"
    assert reasons["key"] == "an authenticated probe needs the key"
    assert reasons["timeout_s"] == "timeout_s must be a positive number of seconds"
    assert not provider.check({}, props("https://gateway.up.railway.app")).failures


def test_check_accepts_unknown_values_during_a_preview() -> None:
    # a first preview: the domain (and so the URL) is computed by Railway, the engine sends its sentinel
    result = ServingCheckProvider().check({}, props(Unknown(), key=Unknown(), probes=Unknown()))
    assert result.failures == []


def test_diff_reruns_on_a_new_deployment_only() -> None:
    provider = ServingCheckProvider()
    olds = props("https://g.up.railway.app")
    assert not provider.diff("id", olds, props("https://g.up.railway.app")).changes
    assert provider.diff("id", olds, props("https://g.up.railway.app", revision="deployment-2")).changes
    assert provider.diff("id", olds, props("https://g.up.railway.app", timeout_s=9)).changes


def test_create_returns_the_attempts_and_never_the_key(gateway: tuple[DeployedService, str]) -> None:
    _, url = gateway
    created = ServingCheckProvider().create(props(url, **GENEROUS))
    assert created.outs is not None
    assert created.outs["attempts"] == {
        "gateway readiness": 1,
        "gateway refuses a request without the key": 1,
        "gateway answers the stack's key with its routes and groups": 1,
    }
    assert "key" not in created.outs and KEY not in repr(created.outs)
    assert created.id == "serving-127.0.0.1"


@pytest.fixture(scope="module")
def host() -> Iterator[ProviderHost]:
    with provider_host("urn:pulumi:dev::llmstack::pulumi-python:dynamic/serving:Check::gateway-serving") as h:
        yield h


def test_over_grpc_a_serving_gateway_creates_and_a_failing_one_fails_the_update(
    host: ProviderHost, gateway: tuple[DeployedService, str]
) -> None:
    service, url = gateway
    provider = ServingCheckProvider()
    assert host.check(provider, props(rpc.UNKNOWN)) == []
    rid, outs = host.create(provider, props(url, **GENEROUS))
    assert rid == "serving-127.0.0.1" and set(outs["attempts"]) == {p.name for p in gateway_probes(IDS, None)}
    assert "key" not in outs
    assert host.diff(provider, outs, props(url, **GENEROUS)).changes == provider_pb2.DiffResponse.DIFF_NONE
    diff = host.diff(provider, outs, props(url, **GENEROUS, revision="deployment-2"))
    assert diff.changes == diff.DIFF_SOME
    service.redis_down = True
    with pytest.raises(grpc.RpcError) as caught:
        host.update(provider, outs, props(url, revision="deployment-2"))
    details = caught.value.details() or ""
    # what `pulumi up` prints: the provider's traceback, ending with our message; never the key
    assert 'NotServingError: serving check "gateway readiness" failed' in details
    assert "what to do:" in details and KEY not in details
