"""A stack's ``llmstack:enabled_models``: the catalog narrowed to those groups.

Fallbacks into a group the stack does not enable are dropped and shown as ``info`` (LiteLLM would skip an
unknown target silently); a route into one is an error, since a client asking for it would get nothing.
"""

from __future__ import annotations

import typing
from typing import Any

from infra.catalog.findings import PROJECT, Finding, Location, Severity
from infra.catalog.models import Catalog
from infra.catalog.validation import suggest


def narrow_to_enabled(
    catalog: Catalog,
    enabled: Any,
    stack_loc: typing.Callable[..., Location],
) -> tuple[Catalog, tuple[str, ...], list[Finding], list[Finding]]:
    if enabled is None:
        return catalog, (), [], []
    findings: list[Finding] = []
    if not isinstance(enabled, list) or not all(isinstance(g, str) for g in enabled):
        findings.append(
            Finding(
                Severity.ERROR,
                "wrong-type",
                stack_loc("enabled_models"),
                f"'{PROJECT}:enabled_models' must be a list of model group names",
                f"write e.g. {PROJECT}:enabled_models: [claude-sonnet, gemini-flash]",
            )
        )
        return catalog, (), [], findings
    for i, group in enumerate(enabled):
        if group not in catalog.models:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "unknown-group",
                    stack_loc("enabled_models", i),
                    f"'{group}' is not a model group of the catalog{suggest(group, catalog.models)}",
                    f"use one of: {', '.join(catalog.models)}",
                )
            )
    if findings:
        return catalog, (), [], findings
    keep = set(enabled)
    disabled = tuple(g for g in catalog.models if g not in keep)
    notes: list[Finding] = []

    def narrow(kind: str, table: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for source, targets in table.items():
            if source not in keep:
                continue
            dropped = [t for t in targets if t not in keep and t in catalog.models]
            for target in dropped:
                notes.append(
                    Finding(
                        Severity.INFO,
                        "fallback-dropped",
                        stack_loc("enabled_models"),
                        f"{kind} {source} -> {target} is dropped: '{target}' is not enabled in this stack",
                        f"enable '{target}' here if {source} should still fall back to it",
                        subject=source,
                    )
                )
            out[source] = [t for t in targets if t in keep or t not in catalog.models]
        return out

    for route, group in catalog.routes.items():
        if group not in keep:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "route-disabled",
                    stack_loc("enabled_models"),
                    f"route '{route}' points at '{group}', which this stack does not enable",
                    f"add '{group}' to {PROJECT}:enabled_models, or point the route elsewhere with "
                    f"{PROJECT}:routes: {{{route}: <enabled group>}}",
                    subject=route,
                )
            )
    narrowed = catalog.model_copy(
        update={
            "models": {g: m for g, m in catalog.models.items() if g in keep},
            "fallbacks": narrow("fallback", catalog.fallbacks),
            "context_window_fallbacks": narrow("context-window fallback", catalog.context_window_fallbacks),
            "content_policy_fallbacks": narrow("content-policy fallback", catalog.content_policy_fallbacks),
        }
    )
    return narrowed, disabled, notes, findings
