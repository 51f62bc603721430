"""The daily budget: a real number, sane alert thresholds, and one counter the whole gateway shares."""

from __future__ import annotations

import itertools
import math

from infra.catalog import Finding, Severity
from infra.chains import max_price_per_token
from infra.checks.context import CheckContext


def check_budget(ctx: CheckContext) -> list[Finding]:
    spec, budget = ctx.spec, ctx.spec.catalog.budget
    out: list[Finding] = []
    if not math.isfinite(budget.daily_usd) or budget.daily_usd <= 0:
        out.append(
            Finding(
                Severity.ERROR,
                "budget-invalid",
                spec.locate("budget", "daily_usd"),
                f"budget.daily_usd is {budget.daily_usd}; the daily cap must be a positive, finite number of USD",
                "set budget.daily_usd to the most the stack may spend per day, e.g. 10",
            )
        )
    thresholds = budget.alert_thresholds
    bad = [t for t in thresholds if not math.isfinite(t) or not 0 < t <= 1]
    if bad:
        out.append(
            Finding(
                Severity.ERROR,
                "thresholds-invalid",
                spec.locate("budget", "alert_thresholds"),
                f"alert thresholds {bad} are outside (0, 1]; they are fractions of the daily budget",
                "use fractions such as [0.5, 0.8, 1.0]",
            )
        )
    elif any(b <= a for a, b in itertools.pairwise(thresholds)):
        out.append(
            Finding(
                Severity.ERROR,
                "thresholds-invalid",
                spec.locate("budget", "alert_thresholds"),
                f"alert thresholds {thresholds} are not strictly increasing",
                "sort them and remove repeats, e.g. [0.5, 0.8, 1.0]",
            )
        )
    if not out:
        out.extend(_single_request_fits(ctx))
    return out


def _single_request_fits(ctx: CheckContext) -> list[Finding]:
    """A cap smaller than one largest request means that group can never be served under the hard cap."""
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    for group, model in catalog.models.items():
        _, out_price = max_price_per_token(catalog, ctx.chains[group])
        worst = model.max_output_tokens * out_price
        if worst > catalog.budget.daily_usd:
            out.append(
                Finding(
                    Severity.WARNING,
                    "budget-below-request",
                    spec.locate("budget", "daily_usd"),
                    f"one '{group}' request may reserve up to ${worst:.2f} ({model.max_output_tokens:,} output "
                    f"tokens at its chain's highest price), more than the daily cap of ${catalog.budget.daily_usd:g}",
                    f"raise budget.daily_usd or lower models.{group}.max_output_tokens",
                    subject=group,
                )
            )
    return out


def check_shared_state(ctx: CheckContext) -> list[Finding]:
    spec, gateway = ctx.spec, ctx.spec.catalog.gateway
    processes = gateway.replicas * gateway.workers
    if processes > 1 and gateway.shared_state != "redis":
        return [
            Finding(
                Severity.ERROR,
                "shared-state-missing",
                spec.locate("gateway", "replicas" if gateway.replicas > 1 else "workers"),
                f"the gateway runs {gateway.replicas} replica(s) x {gateway.workers} worker(s) without shared state: "
                f"each process would keep its own budget counter and the cap would become {processes}x",
                "set gateway.shared_state: redis (the stack then provisions Redis), or run 1 replica with 1 worker",
            )
        ]
    return []
