"""What seeing the gateway costs (issue 12): the per-request records and Prometheus metrics, then those plus traces
(LiteLLM's ``otel`` and ``langfuse_otel`` callbacks), each ÷ a gateway with none of it, as ratios of one run.

Not a test. Three real LiteLLM proxies run `llmstack render`'s config for prod in one process each (in-memory
budget), against the provider simulator:
* bare: the records callback taken out, no ``observability:`` section;
* records + metrics: as rendered (the budget hook, then ``records.request_records``, which feeds the metrics);
* everything: an ``observability:`` section with both exporters, batching to a fake OTLP collector and a fake
  Langfuse (tests/fakes) that decode every span, in a process of their own (bench/measure/receivers.py).
They are loaded in alternating phases (A B C A B C ...), so drifts of the shared machine hit all alike, and for
each setting ÷ bare it prints:
* throughput: requests per second with ``--concurrency`` clients (1.00x = free; below 1 costs);
* latency: p50 and p99 of the same requests (the issue's target at 200 ms providers: <= 1.05x);
* CPU per request: the gateway process's CPU time over the requests it served, which does not depend on the load;
once on bare loopback (the cost magnified: the gateway does nothing else) and once with providers answering after
200 ms.

Usage: python bench/observability_bench.py [--requests N] [--rounds R] [--concurrency C] [--smoke]
``--smoke`` is a tiny run (a few requests per phase) that only proves the script works.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx
from measure import chat_load, percentile, print_figures
from measure.receivers import Endpoints, Received, receivers_in_a_process

from infra.catalog import StackSpec, load_stack
from infra.catalog.models import Budget, Observability
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalGateway
from infra.observability import gateway_trace_secrets, gateway_trace_variables
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator

GROUP = "claude-sonnet"
BODY = {"model": GROUP, "messages": [{"role": "user", "content": "benchmark"}], "max_tokens": 16}
BUDGET = '"llmstack_gateway.budget.budget_hook"'
RECORDS = '"llmstack_gateway.records.request_records"'
#: how the gateway's environment names the receivers' credentials (Secret Manager ids in a deployed stack)
HEADERS_SECRET, PUBLIC_SECRET, SECRET_SECRET = "OTLP-HEADERS", "LANGFUSE-PUBLIC", "LANGFUSE-SECRET"


def without_records(config: str) -> str:
    stripped = config.replace(f", {RECORDS}", "").replace(f"{RECORDS}, ", "")
    assert RECORDS not in stripped, "could not take the records callback out of the rendered config"
    return stripped


def traced(spec: StackSpec, receivers: Endpoints) -> tuple[StackSpec, dict[str, str]]:
    """``spec`` with both exporters, and the variables a deployment would give the gateway for them."""
    section = Observability.model_validate(
        {
            "otlp": {"endpoint": receivers.otlp_base_url, "headers_secret": HEADERS_SECRET},
            "langfuse": {
                "host": receivers.langfuse_host,
                "public_key_secret": PUBLIC_SECRET,
                "secret_key_secret": SECRET_SECRET,
            },
        }
    )
    spec = dataclasses.replace(spec, catalog=spec.catalog.model_copy(update={"observability": section}))
    values = {
        HEADERS_SECRET: "x-bench=1",
        PUBLIC_SECRET: receivers.langfuse_public_key,
        SECRET_SECRET: receivers.langfuse_secret_key,
    }
    secrets_env = {name: values[sid] for name, sid in gateway_trace_secrets(spec).items()}
    return spec, {**gateway_trace_variables(spec), **secrets_env}


@dataclass
class Setting:
    name: str
    gateway: LocalGateway
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    served: int = 0

    def reset(self) -> None:
        self.rates, self.latencies, self.cpu_s, self.served = [], [], 0.0, 0

    def load(self, client: httpx.Client, key: str, requests: int, concurrency: int) -> None:
        before = self.gateway.cpu_seconds()
        rate, samples = chat_load(client, self.gateway.url, key, BODY, requests, concurrency)
        after = self.gateway.cpu_seconds()
        self.rates.append(rate)
        self.latencies += samples
        if before is not None and after is not None:
            self.cpu_s += after - before
            self.served += requests

    def versus(self, bare: Setting) -> str:
        throughput = statistics.mean(self.rates) / statistics.mean(bare.rates)
        p50 = percentile(self.latencies, 0.5) / percentile(bare.latencies, 0.5)
        p99 = percentile(self.latencies, 0.99) / percentile(bare.latencies, 0.99)
        cpu = (
            f"   CPU/request {(self.cpu_s / self.served) / (bare.cpu_s / bare.served):4.2f}x"
            if self.served and bare.served and bare.cpu_s > 0
            else ""
        )
        return f"throughput {throughput:4.2f}x   p50 {p50:4.2f}x   p99 {p99:4.2f}x{cpu}"


def wait_for_exports(receivers_received: Received, sent: int) -> bool:
    return min(receivers_received.otlp_request_spans, receivers_received.langfuse_request_spans) >= sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=60, help="per phase")
    parser.add_argument(
        "--rounds",
        type=int,
        default=6,
        help="phases per gateway and provider delay, alternated A B C A B C ...",
    )
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--smoke", action="store_true", help="a tiny run that proves the script works")
    args = parser.parse_args()
    warmup = 10
    if args.smoke:
        args.requests, args.concurrency, args.rounds, warmup = 4, 2, 1, 1

    loaded = load_stack("prod").spec
    assert loaded is not None
    spec = single_process(loaded)
    spec = dataclasses.replace(
        spec, catalog=spec.catalog.model_copy(update={"budget": Budget(daily_usd=1e6)})
    )
    key = "sk-bench-" + secrets.token_hex(16)
    figures: list[tuple[str, str]] = []
    with ExitStack() as stack:
        sim = stack.enter_context(ProviderSimulator().running())
        receivers = stack.enter_context(receivers_in_a_process())
        traced_spec, trace_env = traced(spec, receivers.endpoints)
        rendered = render_gateway_config(spec, sim.api_bases())

        def metrics_env() -> dict[str, str]:
            return {"PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="llmstack-bench-")}

        bare = Setting("bare", LocalGateway(without_records(rendered), key, env=SIMULATED_KEYS))
        records = Setting(
            "records + metrics", LocalGateway(rendered, key, env={**SIMULATED_KEYS, **metrics_env()})
        )
        everything = Setting(
            "records + metrics + traces",
            LocalGateway(
                render_gateway_config(traced_spec, sim.api_bases()),
                key,
                env={**SIMULATED_KEYS, **metrics_env(), **trace_env},
            ),
        )
        settings = (bare, records, everything)
        for setting in settings:
            stack.callback(setting.gateway.stop)
        with ThreadPoolExecutor(max_workers=len(settings)) as pool:
            list(pool.map(lambda s: s.gateway.start(), settings))
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
            for setting in settings:
                chat_load(client, setting.gateway.url, key, BODY, warmup, 1)
            scrape = client.get(f"{records.gateway.url}/metrics", headers={"Authorization": f"Bearer {key}"})
            assert "llmstack_gateway_requests_total" in scrape.text, "the observed gateway records nothing"
            for delay, tag in ((0.0, "loopback"), (200.0, "200 ms providers")):
                sim.reset()
                sim.healthy_delay_ms = delay
                for setting in settings:
                    setting.reset()
                for _ in range(args.rounds):
                    for setting in settings:
                        setting.load(client, key, args.requests, args.concurrency)
                for setting in (records, everything):
                    figures.append((f"{setting.name} / bare, {tag}", setting.versus(bare)))
        sent = warmup + 2 * args.rounds * args.requests  # the traced gateway's: warm-up, 2 delays x rounds
        deadline = time.monotonic() + 8  # the SDK exports in batches every 5 s
        while not wait_for_exports(received := receivers.received(), sent) and time.monotonic() < deadline:
            time.sleep(0.2)

    print(
        f"one run{' (smoke: too few requests for the figures to mean anything)' if args.smoke else ''}; "
        f"{args.requests} requests x {args.rounds} alternating phases per gateway and delay, "
        f"{args.concurrency} concurrent clients, 1 worker each; of {sent} traced requests "
        f"{received.otlp_request_spans} reached the OTLP collector and {received.langfuse_request_spans} Langfuse, "
        f"{received.refused} exports refused"
    )
    print_figures(figures)


if __name__ == "__main__":
    main()
