"""Prometheus metrics of the gateway, summed over every worker of a process set.

Why our own and not LiteLLM's ``prometheus`` callback: in 1.108.7 it needs no licence (no ``premium_user``
check in ``integrations/prometheus.py``) and supports ``PROMETHEUS_MULTIPROC_DIR``, but its series are per key,
team and deployment, it knows neither the budget counter (spent, held, cap) nor whether the counter is reachable,
and it mounts ``/metrics`` as a sub-app behind LiteLLM's own key check. So: ``prometheus-client`` in multiprocess
mode. The entrypoint sets ``PROMETHEUS_MULTIPROC_DIR`` before the proxy starts; LiteLLM's ``proxy_cli.py`` wipes
that directory at start and ``prometheus_cleanup.py`` drops dead workers' files, so counters never carry over.

Counters and histograms are written by the worker that served the request, into its own file of that directory;
a scrape (any worker) merges them (``MultiProcessCollector``). The budget gauges are not per worker: they are read
from the shared counter at scrape time, so every worker and replica reports the same truth.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: the text exposition format every Prometheus scraper reads (prometheus_client.exposition)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: seconds: a provider answers in 0.2 s to minutes; a stream's first token in well under a second when healthy
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)

REQUESTS = Counter(
    "llmstack_gateway_requests",
    "Requests the gateway ended, by group asked, provider that served, endpoint and outcome "
    "(ok, fallback, refused, error, client_closed)",
    ["group", "provider", "endpoint", "outcome"],
)
ERRORS = Counter(
    "llmstack_gateway_errors",
    "Failed deployment attempts (429, 5xx, timeout, error), by group, provider and outcome",
    ["group", "provider", "outcome"],
)
FALLBACKS = Counter(
    "llmstack_gateway_fallbacks",
    "Requests answered by a fallback, by group asked and the provider that finally served",
    ["group", "provider"],
)
TOKENS = Counter(
    "llmstack_gateway_tokens",
    "Tokens, by group, provider and direction (input, output)",
    ["group", "provider", "direction"],
)
COST = Counter(
    "llmstack_gateway_cost_usd",
    "USD settled against the daily budget, by group and provider",
    ["group", "provider"],
)
LATENCY = Histogram(
    "llmstack_gateway_request_seconds",
    "Time from the request to its last byte, by group, endpoint and whether streamed",
    ["group", "endpoint", "streamed"],
    buckets=LATENCY_BUCKETS,
)
FIRST_TOKEN = Histogram(
    "llmstack_gateway_time_to_first_token_seconds",
    "Streamed requests: time from the request to the first chunk",
    ["group", "endpoint"],
    buckets=LATENCY_BUCKETS,
)


class BudgetGauges(Collector):
    """The day's budget as gauges, read from the shared counter by the scrape that exposes them."""

    def __init__(
        self, spent_usd: float | None, held_usd: float | None, cap_usd: float, reachable: bool
    ) -> None:
        self._values = (spent_usd, held_usd, cap_usd, reachable)

    def collect(self) -> Iterator[Metric]:
        spent, held, cap, reachable = self._values
        yield GaugeMetricFamily("llmstack_budget_cap_usd", "The daily budget's cap", value=cap)
        if spent is not None:
            yield GaugeMetricFamily(
                "llmstack_budget_spent_usd", "Spent today (settled requests)", value=spent
            )
        if held is not None:
            yield GaugeMetricFamily(
                "llmstack_budget_held_usd", "Held today by requests in flight", value=held
            )
        yield GaugeMetricFamily(
            "llmstack_budget_counter_up",
            "1 when the budget counter (Redis) answered this scrape",
            value=int(reachable),
        )


def exposition(extra: Iterable[Collector] = ()) -> bytes:
    """Every worker's series merged (multiprocess mode) plus ``extra`` collectors, in the text format."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        # one process (unit tests, a single worker without the entrypoint): the default registry holds our series
        registry = REGISTRY
    for collector in extra:
        registry.register(collector)
    try:
        return generate_latest(registry)
    finally:
        if registry is REGISTRY:
            for collector in extra:
                registry.unregister(collector)
