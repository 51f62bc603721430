"""What the catalog's traces cost the gateway: LiteLLM's ``otel`` and ``langfuse_otel`` callbacks on ÷ off, against
the provider simulator, as ratios of one run.

Not a test. Two real LiteLLM proxies run `llmstack render`'s config for dev in one process each (in-memory budget):
one with an ``observability:`` section (both exporters, batching to a fake OTLP collector and a fake Langfuse on
127.0.0.1 that decode every span, tests/fakes), one without. They are loaded in alternating phases (A B A B), so
drifts of the shared machine hit both alike:
* throughput: requests per second with ``--concurrency`` clients, traced ÷ untraced (1.00x = free);
* latency: p50 and p99 of the same requests, traced ÷ untraced (issue 12's target at 200 ms providers: <= 1.05x);
once on bare loopback (the exporters' own cost, magnified) and once with providers answering after 200 ms.
The records and metrics (issue 12, gateway side) are measured by bench/observability_bench.py.

Usage: python bench/traces_bench.py [--requests N] [--concurrency C] [--smoke]
``--smoke`` is a tiny run (a few requests per phase) that only proves the script works.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the fakes in tests/fakes

from measure import chat_load, percentile

from infra.catalog import load_stack
from infra.catalog.models import Budget, Observability
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalGateway
from infra.observability import gateway_trace_secrets, gateway_trace_variables
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator
from tests.fakes.langfuse_api import LangfuseApi
from tests.fakes.otlp_collector import OtlpCollector

GROUP = "gemini-flash"
BODY = {"model": GROUP, "messages": [{"role": "user", "content": "benchmark"}], "max_tokens": 16}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="per phase (each gateway runs two phases)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that proves the script works")
    parser.add_argument(
        "--exporters",
        choices=("both", "otlp", "langfuse"),
        default="both",
        help="which of the section's exporters",
    )
    args = parser.parse_args()
    warmup = 10
    if args.smoke:
        args.requests, args.concurrency, warmup = 4, 2, 1

    loaded = load_stack("dev").spec
    assert loaded is not None
    plain = single_process(loaded)
    plain = dataclasses.replace(
        plain, catalog=plain.catalog.model_copy(update={"budget": Budget(daily_usd=1e6)})
    )
    key = "sk-bench-" + secrets.token_hex(16)
    figures: list[tuple[str, str]] = []
    with ExitStack() as stack:
        sim = stack.enter_context(ProviderSimulator().running())
        collector = stack.enter_context(OtlpCollector().running())
        langfuse = stack.enter_context(LangfuseApi().running())
        exporters = {
            "otlp": {"endpoint": collector.base_url, "headers_secret": "OTLP-HEADERS"},
            "langfuse": {
                "host": langfuse.host,
                "public_key_secret": "LF-PUBLIC",
                "secret_key_secret": "LF-SECRET",
            },
        }
        section = Observability.model_validate(
            {name: value for name, value in exporters.items() if args.exporters in ("both", name)}
        )
        traced_spec = dataclasses.replace(
            plain, catalog=plain.catalog.model_copy(update={"observability": section})
        )
        values = {
            "OTLP-HEADERS": "x-bench=1",
            "LF-PUBLIC": langfuse.public_key,
            "LF-SECRET": langfuse.secret_key,
        }
        trace_env = {
            **gateway_trace_variables(traced_spec),
            **{name: values[sid] for name, sid in gateway_trace_secrets(traced_spec).items()},
        }
        traced = LocalGateway(
            render_gateway_config(traced_spec, sim.api_bases()), key, env={**SIMULATED_KEYS, **trace_env}
        )
        bare = LocalGateway(render_gateway_config(plain, sim.api_bases()), key, env=SIMULATED_KEYS)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(LocalGateway.start, (traced, bare)))
        stack.callback(bare.stop)
        stack.callback(traced.stop)
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
            for gateway in (traced, bare):
                chat_load(client, gateway.url, key, BODY, warmup, 1)
            receiver = langfuse if args.exporters == "langfuse" else collector
            if not receiver.wait_for(lambda s: s.name == "litellm_request", timeout_s=15):
                raise SystemExit(f"the traced gateway exports nothing:\n{traced.log_tail()}")
            for delay, tag in ((0.0, "loopback"), (200.0, "200 ms providers")):
                sim.reset()
                sim.healthy_delay_ms = delay
                rates: dict[str, list[float]] = {"traced": [], "untraced": []}
                latencies: dict[str, list[float]] = {"traced": [], "untraced": []}
                for _ in range(2):
                    for name, gateway in (("traced", traced), ("untraced", bare)):
                        rate, samples = chat_load(
                            client, gateway.url, key, BODY, args.requests, args.concurrency
                        )
                        rates[name].append(rate)
                        latencies[name] += samples
                throughput = statistics.mean(rates["traced"]) / statistics.mean(rates["untraced"])
                p50 = percentile(latencies["traced"], 0.5) / percentile(latencies["untraced"], 0.5)
                p99 = percentile(latencies["traced"], 0.99) / percentile(latencies["untraced"], 0.99)
                figures.append(
                    (
                        f"traces ({args.exporters}) on / off, {tag}",
                        f"throughput {throughput:4.2f}x   p50 {p50:4.2f}x   p99 {p99:4.2f}x",
                    )
                )
        sent = warmup + 2 * 2 * args.requests  # the traced gateway's requests: warm-up, 2 settings x 2 phases
        deadline = time.monotonic() + 8  # the SDK exports in batches every 5 s
        while (exported := sum(s.name == "litellm_request" for s in receiver.spans)) < sent:
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        lost = collector.refused + langfuse.refused

    print(
        f"one run{' (smoke: too few requests for the figures to mean anything)' if args.smoke else ''}; "
        f"{args.requests} requests x 2 phases per gateway and setting, {args.concurrency} concurrent clients, "
        f"1 worker each; {exported} of {sent} request spans reached the collector, {lost} exports refused"
    )
    width = max(len(name) for name, _ in figures)
    for name, value in figures:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
