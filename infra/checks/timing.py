"""Worst-case request time, and a routing strategy that keeps LiteLLM's budget filters on."""

from __future__ import annotations

import difflib

from infra.catalog import Finding, Severity
from infra.chains import group_worst_case_s, retries_for, worst_case_s
from infra.checks.context import CheckContext

#: litellm/types/litellm_params.py::RoutingStrategyName (1.108.7); a test pins it
KNOWN_ROUTING_STRATEGIES = (
    "simple-shuffle",
    "least-busy",
    "usage-based-routing",
    "latency-based-routing",
    "cost-based-routing",
    "usage-based-routing-v2",
    "lar1",
)
#: legacy v1 usage-based routing silently switches off the router's pre-call budget filters
BUDGET_DISABLING_STRATEGIES = {"usage-based-routing": "simple-shuffle"}


def check_worst_case_time(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    limit = catalog.router.max_request_s
    out: list[Finding] = []
    for group in catalog.models:
        chain = ctx.chains[group]
        total = worst_case_s(catalog, chain)
        if total <= limit:
            continue
        parts = []
        for attempt in chain.attempts:
            retries = retries_for(catalog, attempt.group)
            most = max(retries.rate_limit, retries.server_error, retries.timeout)
            parts.append(
                f"{attempt.group} {1 + most}x{catalog.router.timeout_s:g}s"
                f"+backoff={group_worst_case_s(catalog, attempt.group):.1f}s"
            )
        out.append(
            Finding(
                Severity.ERROR,
                "worst-case-time",
                spec.locate("router", "max_request_s"),
                f"a request for '{group}' can take {total:.1f}s in the worst case ({'; '.join(parts)}), above "
                f"router.max_request_s={limit:g}s",
                "lower router.timeout_s or router.retries, shorten the fallback chain, or raise router.max_request_s",
                subject=group,
            )
        )
    return out


def check_routing_strategy(ctx: CheckContext) -> list[Finding]:
    spec = ctx.spec
    strategy = spec.catalog.router.routing_strategy
    where = spec.locate("router", "routing_strategy")
    if strategy not in KNOWN_ROUTING_STRATEGIES:
        match = difflib.get_close_matches(strategy, KNOWN_ROUTING_STRATEGIES, n=1)
        hint = f" (did you mean '{match[0]}'?)" if match else ""
        return [
            Finding(
                Severity.ERROR,
                "routing-strategy-unknown",
                where,
                f"LiteLLM does not know routing strategy '{strategy}'{hint}",
                f"use simple-shuffle (or one of: {', '.join(KNOWN_ROUTING_STRATEGIES)})",
            )
        ]
    if strategy in BUDGET_DISABLING_STRATEGIES:
        return [
            Finding(
                Severity.ERROR,
                "routing-strategy-disables-budget",
                where,
                f"routing strategy '{strategy}' (legacy v1) silently switches off LiteLLM's budget filters",
                f"use {BUDGET_DISABLING_STRATEGIES[strategy]}",
            )
        ]
    return []
