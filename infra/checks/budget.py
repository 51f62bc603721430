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


#: what deployed stacks keep the counter in (infra/components deploy it with append-only persistence)
COUNTER_STORE = "the stack's Redis (append-only persistence)"


def check_budget_counter(ctx: CheckContext) -> list[Finding]:
    """Where the day's spend is kept, and that it survives a redeploy, a crash or a restart.

    Every deployed stack keeps the counter in Redis (one implementation, atomic reservations shared by every
    process). A counter in one process's memory restarts at $0 with the process, so ``shared_state: none`` in a
    stack or catalog is an error; the information finding says what the stack's settings imply.
    """
    spec, gateway, budget = ctx.spec, ctx.spec.catalog.gateway, ctx.spec.catalog.budget
    processes = gateway.replicas * gateway.workers
    if gateway.shared_state != "redis":
        multiplied = (
            f", and each of its {processes} processes would keep its own count (a cap of {processes}x)"
            if processes > 1
            else ""
        )
        return [
            Finding(
                Severity.ERROR,
                "counter-not-durable",
                spec.locate("gateway", "shared_state"),
                "gateway.shared_state: none keeps the budget counter in the gateway's memory: every redeploy, "
                f"crash or restart would start the day's spend at $0 again{multiplied}",
                "remove gateway.shared_state: every deployed stack keeps its counter in Redis "
                "(`llmstack local` runs an in-memory counter by itself)",
            )
        ]
    fail = (
        "requests are served uncounted while it is unreachable (budget.allow_when_counter_unavailable)"
        if budget.allow_when_counter_unavailable
        else "requests are refused while it is unreachable (fail closed)"
    )
    return [
        Finding(
            Severity.INFO,
            "budget-counter",
            spec.locate("gateway"),
            f"the daily budget counter lives in {COUNTER_STORE}, shared by the gateway's {processes} "
            f"process(es) ({gateway.replicas} replica(s) x {gateway.workers} worker(s)): a redeploy, crash or restart keeps "
            f"the day's spend, the day starts at midnight {budget.timezone}, and {fail}",
            "nothing to do: this is how every deployed stack keeps its cap",
        )
    ]
