"""Every check is a pure function ``CheckContext -> list[Finding]``; a new check is one more entry below.

``run_checks`` runs them all on one stack and applies the catalog's waivers: a waived finding stays visible
as ``info`` with the stated reason, so a reviewer still sees what was accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from infra.catalog import DEFAULT_STACKS_DIR, Finding, LoadResult, Severity, StackSpec, load_stack
from infra.catalog.loader import inherited_only
from infra.checks.budget import check_budget, check_budget_counter
from infra.checks.clients import check_clients
from infra.checks.context import CheckContext
from infra.checks.deploy import check_bot_route
from infra.checks.graph import (
    check_capabilities,
    check_context_windows,
    check_reachability,
    check_references,
    check_survival,
)
from infra.checks.json_mode import check_json_mode
from infra.checks.observability import check_observability
from infra.checks.pricing import check_cost_map, check_prices
from infra.checks.secrets import check_literal_secrets, check_secret_ids
from infra.checks.timing import check_routing_strategy, check_worst_case_time

Check = Callable[[CheckContext], list[Finding]]

ALL_CHECKS: tuple[Check, ...] = (
    check_literal_secrets,
    check_secret_ids,
    check_references,
    check_survival,
    check_capabilities,
    check_json_mode,
    check_context_windows,
    check_reachability,
    check_prices,
    check_cost_map,
    check_budget,
    check_budget_counter,
    check_worst_case_time,
    check_routing_strategy,
    check_bot_route,
    check_observability,
    check_clients,
)


#: checks about the stack's deployment (its secrets, the bot), not about catalog values a stack inherits
STACK_ONLY_CHECKS: frozenset[Check] = frozenset({check_literal_secrets, check_secret_ids, check_bot_route})


def run_checks(spec: StackSpec, today: dt.date | None = None) -> list[Finding]:
    ctx = CheckContext.build(spec, today)
    findings: list[Finding] = list(spec.load_notes)
    for check in ALL_CHECKS:
        findings.extend(check(ctx))
    findings = _apply_waivers(spec, findings)
    return findings + _catalog_default_findings(spec, today, findings)


def _catalog_default_findings(
    spec: StackSpec, today: dt.date | None, stack_findings: list[Finding]
) -> list[Finding]:
    """The same checks on the catalog as written (all its groups, none of this stack's overrides).

    ``budget.daily_usd: -5`` in the catalog is an error even when every shipped stack overrides it: the next
    stack someone adds would inherit it. Only what this stack does not already report is added.
    """
    defaults = spec.catalog_defaults
    if defaults is None or (not spec.sources.overrides and not spec.disabled_models):
        return []  # nothing overlaid or narrowed: the stack's own findings are the catalog's
    catalog_only = replace(
        spec,
        catalog=defaults,
        sources=replace(spec.sources, overrides={}),
        disabled_models=(),
        load_notes=(),
        catalog_defaults=None,
    )
    ctx = CheckContext.build(catalog_only, today)
    findings = [f for check in ALL_CHECKS if check not in STACK_ONLY_CHECKS for f in check(ctx)]
    return inherited_only(_apply_waivers(catalog_only, findings), stack_findings)


def _apply_waivers(spec: StackSpec, findings: list[Finding]) -> list[Finding]:
    catalog = spec.catalog
    out: list[Finding] = []
    for finding in findings:
        group = catalog.routes.get(finding.subject or "", finding.subject)
        model = catalog.models.get(group or "")
        waivers: dict[str, str] = {str(code): why for code, why in model.waivers.items()} if model else {}
        reason = waivers.get(finding.code)
        if reason and finding.severity is not Severity.INFO:
            finding = replace(
                finding,
                severity=Severity.INFO,
                message=f"waived: {finding.message}",
                fix=f"accepted in models.{group}.waivers.{finding.code}: {reason}",
            )
        out.append(finding)
    return out


def check_stack(
    stack: str,
    today: dt.date | None = None,
    *,
    stacks_dir: Path = DEFAULT_STACKS_DIR,
    catalog_path: Path | None = None,
) -> LoadResult:
    """Load and check one stack: the load findings, or the load notes plus every check's findings."""
    loaded = load_stack(stack, stacks_dir=stacks_dir, catalog_path=catalog_path)
    if loaded.spec is None:
        return loaded
    return LoadResult(stack, loaded.spec, run_checks(loaded.spec, today))


def has_errors(findings: list[Finding]) -> bool:
    return any(f.is_error for f in findings)


__all__ = ["ALL_CHECKS", "CheckContext", "check_stack", "has_errors", "run_checks"]
