"""Gateway latency, failover penalty and budget-hook cost, against the provider simulator, as ratios of one run.

Not a test. The real LiteLLM proxy runs `llmstack render`'s config (one worker, in-memory budget). Reported:
* direct calls to the simulator vs the same calls through the gateway (healthy), p50 and p99;
* the failover penalty: p50 of requests the fallback serves while the primary answers 429 (and 500), divided by
  the healthy p50; once with the simulator answering healthy calls after 200 ms and errors at once (close to real
  providers), once on bare loopback;
* the budget hook's cost: the gateway's healthy p50 with the hook divided by the same gateway without it.

Usage: python bench/gateway_bench.py [--requests N] [--slow-requests N]
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import statistics
import time
from collections.abc import Callable

import httpx

from infra.catalog import load_stack
from infra.catalog.models import Budget
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.simulator import Behavior, ProviderSimulator

PRIMARY = "claude-sonnet"  # anthropic; falls back to gemini-pro
MESSAGES = [{"role": "user", "content": "benchmark"}]


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(call: Callable[[], httpx.Response], count: int, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        call().raise_for_status()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="per loopback phase")
    parser.add_argument("--slow-requests", type=int, default=40, help="per phase with 200 ms providers")
    args = parser.parse_args()

    loaded = load_stack("prod").spec
    assert loaded is not None
    spec = single_process(loaded)
    spec = dataclasses.replace(
        spec, catalog=spec.catalog.model_copy(update={"budget": Budget(daily_usd=1000.0)})
    )
    key = "sk-bench-" + secrets.token_hex(16)
    rows: list[tuple[str, str]] = []
    with ProviderSimulator().running() as sim:
        model = spec.catalog.models[PRIMARY].model
        direct_url = f"{sim.api_bases()['anthropic']}/v1/messages"
        direct_body = {"model": model, "max_tokens": 16, "messages": MESSAGES}

        def gateways(hook: bool) -> LocalGateway:
            config = render_gateway_config(spec, sim.api_bases(), budget_hook=hook)
            return LocalGateway(config, key, env=SIMULATED_KEYS)

        with gateways(True).running() as gateway, httpx.Client(timeout=60) as client:

            def via_gateway() -> httpx.Response:
                return client.post(
                    f"{gateway.url}/v1/chat/completions",
                    json={"model": PRIMARY, "messages": MESSAGES, "max_tokens": 16},
                    headers={"Authorization": f"Bearer {key}"},
                )

            def direct() -> httpx.Response:
                return client.post(direct_url, json=direct_body, headers={"x-api-key": "simulated"})

            results: dict[str, list[float]] = {}
            for delay, count in ((0.0, args.requests), (200.0, args.slow_requests)):
                tag = "loopback" if delay == 0 else "200ms"
                sim.reset()
                sim.healthy_delay_ms = delay
                results[f"direct {tag}"] = measure(direct, count)
                results[f"gateway {tag}"] = measure(via_gateway, count)
                for mode in ("429", "500"):
                    sim.reset()
                    sim.set("anthropic", Behavior(mode=mode, retry_after_s=0))  # type: ignore[arg-type]
                    results[f"failover {mode} {tag}"] = measure(via_gateway, count)
                    assert {r.model for r in sim.requests()[-3:]} >= {spec.catalog.models["gemini-pro"].model}
            sim.reset()
            sim.healthy_delay_ms = 0
            with_hook = measure(via_gateway, args.requests)

        with gateways(False).running() as bare, httpx.Client(timeout=60) as client:

            def without_hook() -> httpx.Response:
                return client.post(
                    f"{bare.url}/v1/chat/completions",
                    json={"model": PRIMARY, "messages": MESSAGES, "max_tokens": 16},
                    headers={"Authorization": f"Bearer {key}"},
                )

            no_hook = measure(without_hook, args.requests)

    for tag in ("loopback", "200ms"):
        d50, d99 = percentiles(results[f"direct {tag}"])
        g50, g99 = percentiles(results[f"gateway {tag}"])
        rows.append((f"gateway / direct, healthy, {tag}", f"p50 {g50 / d50:5.2f}x   p99 {g99 / d99:5.2f}x"))
        for mode in ("429", "500"):
            f50, f99 = percentiles(results[f"failover {mode} {tag}"])
            rows.append(
                (f"failover penalty, primary {mode}, {tag}", f"p50 {f50 / g50:5.2f}x   p99 {f99 / g99:5.2f}x")
            )
    h50, h99 = percentiles(with_hook)
    n50, n99 = percentiles(no_hook)
    rows.append(("budget hook: with / without", f"p50 {h50 / n50:5.2f}x   p99 {h99 / n99:5.2f}x"))

    print(
        f"one run; loopback phases {args.requests} requests, 200 ms phases {args.slow_requests} requests, 1 worker"
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
