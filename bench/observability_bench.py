"""What seeing the gateway costs: the per-request records and metrics (and traces, when the stack has them) on
÷ off, against the provider simulator, as ratios of one run.

Not a test. Two real LiteLLM proxies run `llmstack render`'s config for prod in one process each (in-memory budget):
one as rendered (budget hook, then ``records.request_records``, which also feeds the Prometheus series), one with
the records callback taken out. Both are loaded the same way, in alternating phases (A B A B ...), so drifts of the
shared machine hit both alike (``--rounds`` phases each):
* throughput: requests per second with ``--concurrency`` clients, with ÷ without (1.00x = free; below 1 costs);
* latency: p50 and p99 of the same requests, with ÷ without (target at 200 ms providers: <= 1.05x);
once on bare loopback (the records' own cost, magnified) and once with providers answering after 200 ms.

Usage: python bench/observability_bench.py [--requests N] [--concurrency C] [--smoke]
``--smoke`` is a tiny run (a few requests per phase) that only proves the script works.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import statistics
import tempfile
from concurrent.futures import ThreadPoolExecutor

import httpx
from measure import chat_load, percentile

from infra.catalog import load_stack
from infra.catalog.models import Budget
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator

GROUP = "claude-sonnet"
BODY = {"model": GROUP, "messages": [{"role": "user", "content": "benchmark"}], "max_tokens": 16}
BUDGET = '"llmstack_gateway.budget.budget_hook"'
RECORDS = '"llmstack_gateway.records.request_records"'


def with_records(config: str) -> str:
    """The config with the records callback right after the budget's (as `llmstack render` lists it)."""
    return config if RECORDS in config else config.replace(BUDGET, f"{BUDGET}, {RECORDS}")


def without_records(config: str) -> str:
    stripped = config.replace(f", {RECORDS}", "").replace(f"{RECORDS}, ", "")
    assert RECORDS not in stripped, "could not take the records callback out of the rendered config"
    return stripped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60, help="per phase")
    parser.add_argument(
        "--rounds", type=int, default=6, help="phases per gateway and setting, alternated A B A B ..."
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that proves the script works")
    args = parser.parse_args()
    warmup = 10
    if args.smoke:
        args.requests, args.concurrency, args.rounds, warmup = 4, 2, 2, 1

    loaded = load_stack("prod").spec
    assert loaded is not None
    spec = single_process(loaded)
    spec = dataclasses.replace(
        spec, catalog=spec.catalog.model_copy(update={"budget": Budget(daily_usd=1e6)})
    )
    key = "sk-bench-" + secrets.token_hex(16)
    figures: list[tuple[str, str]] = []
    with ProviderSimulator().running() as sim:
        rendered = render_gateway_config(spec, sim.api_bases())
        observed = LocalGateway(
            with_records(rendered),
            key,
            env={**SIMULATED_KEYS, "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="llmstack-bench-")},
        )
        bare = LocalGateway(without_records(rendered), key, env=SIMULATED_KEYS)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(LocalGateway.start, (observed, bare)))
        try:
            with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
                for gateway in (observed, bare):
                    chat_load(client, gateway.url, key, BODY, warmup, 1)
                metrics = client.get(f"{observed.url}/metrics", headers={"Authorization": f"Bearer {key}"})
                assert "llmstack_gateway_requests_total" in metrics.text, (
                    "the observed gateway records nothing"
                )
                for delay, tag in ((0.0, "loopback"), (200.0, "200 ms providers")):
                    sim.reset()
                    sim.healthy_delay_ms = delay
                    rates: dict[str, list[float]] = {"with": [], "without": []}
                    latencies: dict[str, list[float]] = {"with": [], "without": []}
                    for _ in range(args.rounds):
                        for name, gateway in (("with", observed), ("without", bare)):
                            rate, samples = chat_load(
                                client, gateway.url, key, BODY, args.requests, args.concurrency
                            )
                            rates[name].append(rate)
                            latencies[name] += samples
                    throughput = statistics.mean(rates["with"]) / statistics.mean(rates["without"])
                    p50 = percentile(latencies["with"], 0.5) / percentile(latencies["without"], 0.5)
                    p99 = percentile(latencies["with"], 0.99) / percentile(latencies["without"], 0.99)
                    figures.append(
                        (
                            f"records + metrics on / off, {tag}",
                            f"throughput {throughput:4.2f}x   p50 {p50:4.2f}x   p99 {p99:4.2f}x",
                        )
                    )
        finally:
            observed.stop()
            bare.stop()

    print(
        f"one run{' (smoke: too few requests for the figures to mean anything)' if args.smoke else ''}; "
        f"{args.requests} requests x {args.rounds} alternating phases per gateway and setting, {args.concurrency} concurrent clients, "
        "1 worker each; traces not included (prod's catalog has no observability section)"
    )
    width = max(len(name) for name, _ in figures)
    for name, value in figures:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
