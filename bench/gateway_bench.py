"""Gateway latency, failover penalty and budget-hook cost, against the provider simulator, as ratios of one run.

Not a test. The real LiteLLM proxy runs `llmstack render`'s config (one worker, in-memory budget). Reported:
* direct calls to the simulator vs the same calls through the gateway (healthy), p50 and p99;
* the failover penalty: p50 of requests the fallback serves while the primary answers 429 (and 500), divided by
  the healthy p50; once with the simulator answering healthy calls after 200 ms and errors at once (close to real
  providers), once on bare loopback;
* the budget hook's cost: the gateway's healthy p50 with the hook divided by the same gateway without it;
* the budget hook's cost for streamed requests: time to first token and to last token, with the hook divided by
  without it (both gateways run side by side and are called in turn, so load drifts hit both alike), once on bare
  loopback and once with the simulator pacing every delta like a model (``--pace-ms``).

Usage: python bench/gateway_bench.py [--requests N] [--slow-requests N] [--pace-ms MS] [--smoke]
``--smoke`` is a tiny run (a few requests per phase, one gateway: the hook's rows compare it with itself) that only
proves the script works.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from measure import percentiles, print_figures

from infra.catalog import load_stack
from infra.catalog.models import Budget
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.simulator import Behavior, ProviderSimulator

PRIMARY = "claude-sonnet"  # anthropic; falls back to gemini-pro
MESSAGES = [{"role": "user", "content": "benchmark"}]


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


def stream_once(client: httpx.Client, url: str, key: str) -> tuple[float, float]:
    """One streamed chat completion read to its end: (ms to the first content delta, ms to the end)."""
    body = {"model": PRIMARY, "messages": MESSAGES, "max_tokens": 16, "stream": True}
    started = time.perf_counter()
    first = None
    with client.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if first is None and line.startswith("data: {") and '"content"' in line:
                first = time.perf_counter()
    ended = time.perf_counter()
    assert first is not None, "the stream carried no content"
    return (first - started) * 1000, (ended - started) * 1000


def measure_streams(
    client: httpx.Client, urls: tuple[str, str], key: str, count: int, warmup: int
) -> dict[str, list[float]]:
    """Alternates the two gateways request by request; ttft/ttlt samples per gateway (0: with hook, 1: without)."""
    samples: dict[str, list[float]] = {f"{kind} {i}": [] for kind in ("ttft", "ttlt") for i in (0, 1)}
    for index in range(warmup + count):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        for i in order:
            ttft, ttlt = stream_once(client, urls[i], key)
            if index >= warmup:
                samples[f"ttft {i}"].append(ttft)
                samples[f"ttlt {i}"].append(ttlt)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="per loopback phase")
    parser.add_argument("--slow-requests", type=int, default=40, help="per phase with 200 ms providers")
    parser.add_argument(
        "--pace-ms", type=float, default=10.0, help="delay per streamed delta in the paced phase"
    )
    parser.add_argument("--smoke", action="store_true", help="a tiny run that proves the script works")
    args = parser.parse_args()
    warmup = 10
    if args.smoke:
        args.requests, args.slow_requests, warmup = 3, 2, 1

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

        gateway, bare = gateways(True), gateways(False)
        if args.smoke:  # one gateway start (the slow part): the hook rows then compare it with itself
            bare = gateway
        started = list({id(g): g for g in (gateway, bare)}.values())
        with ThreadPoolExecutor(max_workers=2) as pool:  # both start side by side
            list(pool.map(LocalGateway.start, started))
        try:
            with httpx.Client(timeout=60) as client:

                def chat_via(url: str) -> Callable[[], httpx.Response]:
                    def call() -> httpx.Response:
                        return client.post(
                            f"{url}/v1/chat/completions",
                            json={"model": PRIMARY, "messages": MESSAGES, "max_tokens": 16},
                            headers={"Authorization": f"Bearer {key}"},
                        )

                    return call

                def direct() -> httpx.Response:
                    return client.post(direct_url, json=direct_body, headers={"x-api-key": "simulated"})

                via_gateway = chat_via(gateway.url)
                results: dict[str, list[float]] = {}
                for delay, count in ((0.0, args.requests), (200.0, args.slow_requests)):
                    tag = "loopback" if delay == 0 else "200ms"
                    sim.reset()
                    sim.healthy_delay_ms = delay
                    results[f"direct {tag}"] = measure(direct, count, warmup)
                    results[f"gateway {tag}"] = measure(via_gateway, count, warmup)
                    for mode in ("429", "500"):
                        sim.reset()
                        sim.set("anthropic", Behavior(mode=mode, retry_after_s=0))  # type: ignore[arg-type]
                        results[f"failover {mode} {tag}"] = measure(via_gateway, count, warmup)
                        assert {r.model for r in sim.requests()[-3:]} >= {
                            spec.catalog.models["gemini-pro"].model
                        }
                sim.reset()
                sim.healthy_delay_ms = 0
                # in turn, request by request, so load drifts on the shared machine hit both alike
                with_hook, no_hook = [], []
                measure(chat_via(bare.url), 0, warmup)
                for _ in range(args.requests):
                    with_hook += measure(via_gateway, 1, 0)
                    no_hook += measure(chat_via(bare.url), 1, 0)
                streams = {}
                for pace, count in ((0.0, args.requests), (args.pace_ms, args.slow_requests)):
                    sim.healthy_chunk_delay_ms = pace
                    streams[pace] = measure_streams(client, (gateway.url, bare.url), key, count, warmup)
                sim.healthy_chunk_delay_ms = 0
        finally:
            for running in started:
                running.stop()

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
    for pace, samples in streams.items():
        tag = "loopback" if pace == 0 else f"{pace:g} ms/delta"
        for kind, label in (("ttft", "first token"), ("ttlt", "last token")):
            w50, w99 = percentiles(samples[f"{kind} 0"])
            b50, b99 = percentiles(samples[f"{kind} 1"])
            rows.append(
                (
                    f"budget hook, streamed, {label}, {tag}: with / without",
                    f"p50 {w50 / b50:5.2f}x   p99 {w99 / b99:5.2f}x",
                )
            )

    print(
        f"one run{' (smoke: one gateway, too few requests for the figures to mean anything)' if args.smoke else ''}; loopback "
        f"phases {args.requests} requests, 200 ms and paced phases {args.slow_requests} requests, 1 worker"
    )
    print_figures(rows)


if __name__ == "__main__":
    main()
