"""The fallback graph: references resolve, every group survives the loss of a provider, capabilities are kept."""

from __future__ import annotations

import difflib

from infra.catalog import Finding, Severity
from infra.checks.context import CheckContext

_TABLES = ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")


def _suggest(word: str, candidates: list[str]) -> str:
    match = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def check_references(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    groups = list(catalog.models)
    # groups the stack disabled are known names, only not deployed here: the loader already dropped them
    known = set(groups) | set(spec.disabled_models)
    out: list[Finding] = []
    for group, model in catalog.models.items():
        if model.provider not in catalog.providers:
            out.append(
                Finding(
                    Severity.ERROR,
                    "unknown-provider",
                    spec.locate("models", group, "provider"),
                    f"model group '{group}' uses provider '{model.provider}', which is not declared"
                    f"{_suggest(model.provider, list(catalog.providers))}",
                    f"declare it under providers.{model.provider} (with its api_key_secret) or use one of: "
                    f"{', '.join(catalog.providers)}",
                    subject=group,
                )
            )
    for table_name in _TABLES:
        table: dict[str, list[str]] = getattr(catalog, table_name)
        for source, targets in table.items():
            if source not in known:
                out.append(
                    Finding(
                        Severity.ERROR,
                        "unknown-group",
                        spec.locate(table_name, source),
                        f"{table_name} are declared for '{source}', which is not a model group"
                        f"{_suggest(source, groups)}",
                        f"rename the entry to an existing group or declare models.{source}",
                    )
                )
            seen: set[str] = set()
            for i, target in enumerate(targets):
                where = spec.locate(table_name, source, i)
                if target == source:
                    out.append(
                        Finding(
                            Severity.ERROR,
                            "self-fallback",
                            where,
                            f"'{source}' falls back to itself; LiteLLM skips that hop, so it protects nothing",
                            f"replace it with a group on another provider, or remove it from {table_name}.{source}",
                            subject=source,
                        )
                    )
                elif target not in known:
                    out.append(
                        Finding(
                            Severity.ERROR,
                            "unknown-group",
                            where,
                            f"'{source}' falls back to '{target}', which is not a model group"
                            f"{_suggest(target, groups)}; LiteLLM would skip it silently at request time",
                            f"use one of: {', '.join(g for g in groups if g != source)}",
                            subject=source,
                        )
                    )
                elif target in seen:
                    out.append(
                        Finding(
                            Severity.ERROR,
                            "duplicate-fallback",
                            where,
                            f"'{target}' is listed twice in {table_name}.{source}",
                            "remove the second entry",
                            subject=source,
                        )
                    )
                seen.add(target)
    for route, target in catalog.routes.items():
        if target not in known:
            out.append(
                Finding(
                    Severity.ERROR,
                    "unknown-group",
                    spec.locate("routes", route),
                    f"route '{route}' points at '{target}', which is not a model group{_suggest(target, groups)}",
                    f"use one of: {', '.join(groups)}",
                    subject=route,
                )
            )
        if route in catalog.models:
            out.append(
                Finding(
                    Severity.ERROR,
                    "route-shadows-group",
                    spec.locate("routes", route),
                    f"route '{route}' has the name of a model group; clients could not tell them apart",
                    "rename the route",
                    subject=route,
                )
            )
    return out


def check_survival(ctx: CheckContext) -> list[Finding]:
    """Every group's effective chain must reach a second provider, or the group dies with its provider."""
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    for group, model in catalog.models.items():
        if model.provider not in catalog.providers:
            continue
        chain = ctx.chains[group]
        if len(chain.providers) >= 2:
            continue
        caps = set(model.capabilities)
        candidates = [
            g
            for g, m in catalog.models.items()
            if m.provider != model.provider and caps <= set(m.capabilities)
        ]
        routes = ctx.routes_of(group)
        used_by = f" (and the routes {', '.join(routes)})" if routes else ""
        fix = (
            f"add a group on another provider to fallbacks.{group}, e.g. [{', '.join(candidates[:2])}]"
            if candidates
            else f"declare a model group on another provider with {', '.join(sorted(caps)) or 'the same'}"
            " capabilities and add it to fallbacks." + group
        )
        out.append(
            Finding(
                Severity.ERROR,
                "single-provider",
                spec.locate("fallbacks", group)
                if group in catalog.fallbacks
                else spec.locate("models", group),
                f"'{group}'{used_by} does not survive the loss of {model.provider}: its effective chain "
                f"{' -> '.join(chain.groups)} never reaches another provider",
                fix + f", or waive it with models.{group}.waivers.single-provider: <reason>",
                subject=group,
            )
        )
    return out


def check_capabilities(ctx: CheckContext) -> list[Finding]:
    """Along each effective chain, every group that may answer has the requested group's capabilities."""
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    for group, model in catalog.models.items():
        wanted = set(model.capabilities)
        for attempt in ctx.chains[group].attempts[1:]:
            target = catalog.models.get(attempt.group)
            if target is None or attempt.via is None:
                continue
            missing = sorted(wanted - set(target.capabilities))
            if not missing:
                continue
            index = catalog.fallbacks.get(attempt.via, []).index(attempt.group)
            hop = "" if attempt.via == group else f" (through {attempt.via}'s fallbacks)"
            out.append(
                Finding(
                    Severity.ERROR,
                    "capability-loss",
                    spec.locate("fallbacks", attempt.via, index),
                    f"'{group}' falls back to '{attempt.group}'{hop}, which lacks {', '.join(missing)}: a request "
                    f"that needs it would fail or degrade on the fallback",
                    f"fall back to a group with {', '.join(missing)}, or waive it with "
                    f"models.{group}.waivers.capability-loss: <reason>",
                    subject=group,
                )
            )
    return out


def check_context_windows(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    for table_name in _TABLES:
        table: dict[str, list[str]] = getattr(catalog, table_name)
        for source, targets in table.items():
            src = catalog.models.get(source)
            for i, target in enumerate(targets):
                dst = catalog.models.get(target)
                if src is None or dst is None or dst.context_window >= src.context_window:
                    continue
                out.append(
                    Finding(
                        Severity.WARNING,
                        "context-shrink",
                        spec.locate(table_name, source, i),
                        f"'{source}' ({src.context_window:,} tokens) falls back to '{target}' "
                        f"({dst.context_window:,} tokens): a long request that {source} accepts fails there",
                        f"put a group with at least {src.context_window:,} tokens first, add "
                        f"context_window_fallbacks.{source}, or waive it with "
                        f"models.{source}.waivers.context-shrink: <reason>",
                        subject=source,
                    )
                )
    return out


def check_reachability(ctx: CheckContext) -> list[Finding]:
    """Declared fallbacks that LiteLLM's ``max_fallbacks`` depth limit never lets a request reach."""
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    reported: set[tuple[str, str]] = set()
    for group in catalog.models:
        for source, target in ctx.chains[group].unreached:
            if (source, target) in reported:
                continue
            reported.add((source, target))
            out.append(
                Finding(
                    Severity.WARNING,
                    "fallback-unreached",
                    spec.locate("fallbacks", source, catalog.fallbacks[source].index(target)),
                    f"a request for '{group}' never reaches '{target}' through {source}: "
                    f"router.max_fallbacks={catalog.router.max_fallbacks} stops the walk before it",
                    "raise router.max_fallbacks, or shorten the chain so the hop comes earlier",
                    subject=group,
                )
            )
    return out
