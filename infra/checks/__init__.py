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
from infra.checks.budget import check_budget, check_shared_state
from infra.checks.context import CheckContext
from infra.checks.deploy import check_bot_route
from infra.checks.graph import (
    check_capabilities,
    check_context_windows,
    check_reachability,
    check_references,
    check_survival,
)
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
    check_context_windows,
    check_reachability,
    check_prices,
    check_cost_map,
    check_budget,
    check_shared_state,
    check_worst_case_time,
    check_routing_strategy,
    check_bot_route,
)


def run_checks(spec: StackSpec, today: dt.date | None = None) -> list[Finding]:
    ctx = CheckContext.build(spec, today)
    findings: list[Finding] = list(spec.load_notes)
    for check in ALL_CHECKS:
        findings.extend(check(ctx))
    return _apply_waivers(spec, findings)


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
