"""The gateway's serving checks against the real gateway (LiteLLM 1.108.7 with this stack's rendered config and
its budget counter in Redis), so the stand-ins in deployed_fakes.py cannot drift from what it really answers."""

from __future__ import annotations

import uuid

import pytest

from infra.catalog import load_stack
from infra.components.gateway import served_model_ids
from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.serving import NotServingError, gateway_probes, wait_until_serving
from infra.simulator import ProviderSimulator
from tests.conftest import STACKS
from tests.integration.conftest import PROVIDER_ENV, REDIS, needs_redis

pytestmark = [pytest.mark.litellm, needs_redis]


def test_the_checks_pass_against_the_real_gateway_and_fail_with_a_wrong_key() -> None:
    spec = load_stack("dev", stacks_dir=STACKS).spec
    assert spec is not None and spec.catalog.gateway.shared_state == "redis"
    key = "sk-serving-" + uuid.uuid4().hex
    redis_env = {"REDIS_HOST": REDIS["host"], "REDIS_PORT": str(REDIS["port"])}
    probes = gateway_probes(served_model_ids(spec), "redis")
    timing = {"timeout_s": 30.0, "interval_s": 0.2, "request_timeout_s": 10.0}
    with ProviderSimulator().running() as simulator:
        config = render_gateway_config(spec, simulator.api_bases())
        gateway = LocalGateway(config, key, env={**PROVIDER_ENV, **redis_env})
        with gateway.running():
            attempts = wait_until_serving(gateway.url, probes, key=key, **timing)
            assert set(attempts) == {p.name for p in probes}
            with pytest.raises(NotServingError) as caught:
                wait_until_serving(gateway.url, probes, key="sk-not-the-key", **{**timing, "timeout_s": 0.3})
        # the checks cost nothing: no provider was called
        assert simulator.requests() == []
    message = str(caught.value)
    assert "gateway answers the stack's key with its routes and groups" in message
    assert "HTTP 401, expected 200" in message and "Invalid or missing API key" in message
    assert "sk-not-the-key" not in message
