"""Routes, fallbacks and auth through the real proxy: what `llmstack explain` predicts is what LiteLLM does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.catalog import StackSpec
from infra.chains import all_chains
from infra.localgateway import LocalGateway
from infra.render import with_in_memory_counter
from infra.simulator import Behavior, ProviderSimulator
from tests.integration.conftest import MASTER_KEY, chat, error_message, stack_spec, start_gateway

# prod's catalog (3 providers, 4 groups, 4 routes) in one process with an in-memory budget
SPEC = with_in_memory_counter(stack_spec("prod", budget={"daily_usd": 50}))


@pytest.fixture(scope="module")
def gateway(simulator: ProviderSimulator) -> Iterator[LocalGateway]:
    with start_gateway(SPEC, simulator).running() as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(simulator: ProviderSimulator) -> None:
    simulator.reset()


def deployment(spec: StackSpec, group: str) -> str:
    return f"{spec.name}-{group}"


@pytest.mark.parametrize("name", [*SPEC.catalog.models, *SPEC.catalog.routes])
def test_each_group_and_route_reaches_the_catalogs_model(
    name: str, gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    group = SPEC.catalog.routes.get(name, name)
    response = chat(gateway, name)
    assert response.status_code == 200, response.text
    assert response.headers["x-litellm-model-id"] == deployment(SPEC, group)
    assert float(response.headers["x-litellm-response-cost"]) > 0
    (request,) = simulator.requests()
    assert request.model == SPEC.catalog.models[group].model


PROVIDERS = sorted({m.provider for m in SPEC.catalog.models.values()})


@pytest.mark.parametrize("mode", ["500", "429"])
@pytest.mark.parametrize("down", PROVIDERS)
def test_drill_every_group_answers_with_the_predicted_fallback_in_order(
    down: str, mode: str, gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    chains = all_chains(SPEC.catalog)
    simulator.set(down, Behavior(mode=mode, retry_after_s=0))  # type: ignore[arg-type]
    for group in [*SPEC.catalog.models, *SPEC.catalog.routes]:  # a route must keep its group's fallbacks
        before = len(simulator.requests())
        predicted = chains[group].answerer({down})
        assert predicted is not None, f"the catalog says {group} survives losing {down}"
        response = chat(gateway, group)
        assert response.status_code == 200, (group, response.text)
        assert response.headers["x-litellm-model-id"] == deployment(SPEC, predicted.group)
        tried = [r.model for r in simulator.requests()[before:]]
        # the order `llmstack explain` prints, up to the first group on a healthy provider; one call each
        expected = []
        for attempt in chains[group].attempts:
            expected.append(SPEC.catalog.models[attempt.group].model)
            if attempt is predicted:
                break
        assert tried == expected, group


def test_two_providers_down(gateway: LocalGateway, simulator: ProviderSimulator) -> None:
    simulator.set("anthropic", "503")
    simulator.set("openai", "500")
    response = chat(gateway, "gpt-4o")
    assert response.status_code == 200
    assert response.headers["x-litellm-model-id"] == deployment(SPEC, "gemini-pro")


def test_everything_down_returns_an_error_not_a_hang(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    for provider in PROVIDERS:
        simulator.set(provider, "500")
    response = chat(gateway, "claude-sonnet")
    assert response.status_code >= 500


def test_max_tokens_is_clamped_to_the_catalog(gateway: LocalGateway, simulator: ProviderSimulator) -> None:
    cap = SPEC.catalog.models["gpt-4o"].max_output_tokens
    for asked, received in ((None, cap), (10 * cap, cap), (100, 100)):
        simulator.reset()
        body = {} if asked is None else {"max_tokens": asked}
        assert chat(gateway, "gpt-4o", **body).status_code == 200
        assert simulator.requests()[-1].max_tokens == received


@pytest.mark.parametrize("key", [None, "", "sk-wrong-key", MASTER_KEY + "x", MASTER_KEY[:-1]])
def test_a_missing_or_wrong_key_is_401_and_nothing_is_served(
    key: str | None, gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    response = chat(gateway, "simple", key=key)
    assert response.status_code == 401, response.text
    assert "Invalid or missing API key" in error_message(response)
    assert simulator.requests() == []


def test_the_master_key_works_in_either_header(gateway: LocalGateway) -> None:
    import httpx

    body = {"model": "simple", "messages": [{"role": "user", "content": "hi"}]}
    for headers in ({"Authorization": f"Bearer {MASTER_KEY}"}, {"x-litellm-api-key": MASTER_KEY}):
        assert (
            httpx.post(
                f"{gateway.url}/v1/chat/completions", json=body, headers=headers, timeout=30
            ).status_code
            == 200
        )


def test_health_needs_no_key_and_calls_no_provider(
    gateway: LocalGateway, simulator: ProviderSimulator
) -> None:
    import httpx

    for path in ("/health/liveliness", "/health/ready"):
        assert httpx.get(f"{gateway.url}{path}", timeout=10).status_code == 200
    assert httpx.get(f"{gateway.url}/health/ready", timeout=10).json()["budget_counter"] == "memory"
    assert simulator.requests() == []


def test_llmstack_drill_reports_each_group_and_exits_0_when_the_catalog_holds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infra.cli import main

    assert main(["drill", "--stack", "dev", "--down", "gemini"]) == 0
    out = capsys.readouterr().out
    assert "drill: gemini down" in out
    assert "gemini-flash   served by claude-sonnet" in out
    assert "anthropic/claude-sonnet-4-6:200" in out and "[FAILED]" not in out


def test_drill_rows_fail_only_when_a_predicted_survivor_did_not_answer() -> None:
    from infra.drill import DrillRow

    assert DrillRow("a", "b", "b", 200, (), 1.0, 0.1).ok
    assert not DrillRow("a", "b", None, 500, (), 1.0, None).ok
    assert not DrillRow("a", "b", "c", 200, (), 1.0, 0.1).ok  # answered, but not by the predicted fallback
    assert DrillRow("a", None, None, 500, (), 1.0, None).ok  # the catalog waived this loss


def test_llmstack_local_simulate_serves_until_interrupted(tmp_path: object) -> None:
    """`llmstack local --stack dev --simulate`: the gateway in the foreground, stopped by Ctrl-C (SIGINT)."""
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    from infra.localgateway import free_port
    from tests.conftest import ROOT

    port = free_port()
    build = Path(str(tmp_path)) / "build"
    # a file, not a pipe: `local` echoes the gateway's log, and a pipe nobody reads would block it at 64 KB
    console = (Path(str(tmp_path)) / "console.log").open("w+")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "infra.cli",
            "local",
            "--stack",
            "dev",
            "--simulate",
            "--port",
            str(port),
            "--build-dir",
            str(build),
        ],
        cwd=ROOT,
        stdout=console,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        key = (build / "local" / "dev.master-key").read_text()
        assert (build / "local" / "dev.master-key").stat().st_mode & 0o077 == 0  # only the owner may read it
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "simple", "messages": [{"role": "user", "content": "hi"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert response.status_code == 200 and "simulated answer" in response.text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
        console.seek(0)
        output = console.read()
        console.close()
    assert process.returncode == 0, output
    assert "stopping" in output
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/health/liveliness", timeout=1)
