"""Prices and lifecycles: every model is priced (or LiteLLM records its spend as $0) and not retired."""

from __future__ import annotations

import datetime as dt
import math

from infra import costmap
from infra.catalog import Finding, Severity
from infra.checks.context import CheckContext

PRICE_DRIFT_TOLERANCE = 0.25
DEPRECATION_WARNING_DAYS = 30


def check_prices(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    for group, model in catalog.models.items():
        for side in ("input", "output"):
            price = getattr(model.price_per_mtok, side)
            where = spec.locate("models", group, "price_per_mtok", side)
            if not math.isfinite(price) or price < 0:
                out.append(
                    Finding(
                        Severity.ERROR,
                        "negative-price" if price < 0 else "invalid-price",
                        where,
                        f"'{group}' has {side} price {price}; a price must be a finite number >= 0",
                        f"set models.{group}.price_per_mtok.{side} to the provider's USD per million tokens",
                        subject=group,
                    )
                )
        if model.price_per_mtok.input == 0 and model.price_per_mtok.output == 0:
            out.append(
                Finding(
                    Severity.ERROR,
                    "unpriced-model",
                    spec.locate("models", group, "price_per_mtok"),
                    f"'{group}' is priced at $0: its spend would count as nothing and no budget could stop it",
                    f"set models.{group}.price_per_mtok.input and .output from the provider's price list",
                    subject=group,
                )
            )
    return out


def check_cost_map(ctx: CheckContext) -> list[Finding]:
    """Compare the catalog with LiteLLM's own map: unknown models, price drift, limits, retirement dates."""
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    if costmap.load_cost_map() is None:
        return [
            Finding(
                Severity.WARNING,
                "cost-map-missing",
                spec.locate("models"),
                "LiteLLM's cost map is not installed, so prices and retirement dates were not cross-checked",
                "install the project (make install) so litellm is present",
            )
        ]
    for group, model in catalog.models.items():
        provider = catalog.providers.get(model.provider)
        if provider is None:
            continue
        kind = provider.resolved_kind(model.provider)
        entry = costmap.lookup(kind, model.model)
        if entry is None:
            out.append(
                Finding(
                    Severity.WARNING,
                    "unknown-model",
                    spec.locate("models", group, "model"),
                    f"LiteLLM {kind} does not know '{model.model}'; the gateway prices it from the catalog only",
                    "check the model id against the provider's list, or waive it with "
                    f"models.{group}.waivers.unknown-model: <reason>",
                    subject=group,
                )
            )
        else:
            out.extend(_drift(ctx, group, entry))
            out.extend(_capabilities(ctx, group, entry))
        retires = model.deprecation_date or (entry.deprecation_date if entry else None)
        if retires is not None:
            out.extend(_deprecation(ctx, group, retires, from_catalog=model.deprecation_date is not None))
    return out


def _drift(ctx: CheckContext, group: str, entry: costmap.CostMapEntry) -> list[Finding]:
    model = ctx.spec.catalog.models[group]
    out: list[Finding] = []
    for side, mapped in (("input", entry.input_cost_per_token), ("output", entry.output_cost_per_token)):
        if mapped is None or mapped <= 0:
            continue
        ours = getattr(model.price_per_mtok, side)
        theirs = mapped * 1e6
        if abs(ours - theirs) > PRICE_DRIFT_TOLERANCE * theirs:
            out.append(
                Finding(
                    Severity.WARNING,
                    "price-drift",
                    ctx.spec.locate("models", group, "price_per_mtok", side),
                    f"'{group}' {side} price is ${ours:g}/Mtok in the catalog but ${theirs:g}/Mtok in LiteLLM's map "
                    f"({entry.key}), more than {PRICE_DRIFT_TOLERANCE:.0%} apart",
                    f"confirm the provider's current price and correct models.{group}.price_per_mtok.{side}",
                    subject=group,
                )
            )
    return out


def _capabilities(ctx: CheckContext, group: str, entry: costmap.CostMapEntry) -> list[Finding]:
    model = ctx.spec.catalog.models[group]
    out: list[Finding] = []
    claimed_unsupported = [
        c for c in model.capabilities if costmap.capability_flag(c) and c not in entry.supports
    ]
    if claimed_unsupported:
        out.append(
            Finding(
                Severity.WARNING,
                "capability-unsupported",
                ctx.spec.locate("models", group, "capabilities"),
                f"'{group}' claims {', '.join(claimed_unsupported)}, which LiteLLM's map says {entry.key} lacks",
                "remove the capability, or confirm it with the provider",
                subject=group,
            )
        )
    if entry.max_input_tokens and model.context_window > entry.max_input_tokens:
        out.append(
            Finding(
                Severity.WARNING,
                "limits-drift",
                ctx.spec.locate("models", group, "context_window"),
                f"'{group}' context_window {model.context_window:,} exceeds LiteLLM's {entry.max_input_tokens:,}",
                f"lower models.{group}.context_window to {entry.max_input_tokens}",
                subject=group,
            )
        )
    if entry.max_output_tokens and model.max_output_tokens > entry.max_output_tokens:
        out.append(
            Finding(
                Severity.WARNING,
                "limits-drift",
                ctx.spec.locate("models", group, "max_output_tokens"),
                f"'{group}' max_output_tokens {model.max_output_tokens:,} exceeds LiteLLM's "
                f"{entry.max_output_tokens:,}",
                f"lower models.{group}.max_output_tokens to {entry.max_output_tokens}",
                subject=group,
            )
        )
    return out


def _deprecation(ctx: CheckContext, group: str, retires: dt.date, *, from_catalog: bool) -> list[Finding]:
    model = ctx.spec.catalog.models[group]
    source = "the catalog" if from_catalog else "LiteLLM's map"
    where = ctx.spec.locate("models", group, "deprecation_date" if from_catalog else "model")
    days = (retires - ctx.today).days
    if days < 0:
        return [
            Finding(
                Severity.ERROR,
                "deprecated-model",
                where,
                f"'{group}' uses {model.model}, retired on {retires.isoformat()} per {source}",
                f"move models.{group}.model to the provider's successor model (and update its price)",
                subject=group,
            )
        ]
    if days <= DEPRECATION_WARNING_DAYS:
        return [
            Finding(
                Severity.WARNING,
                "deprecation-soon",
                where,
                f"'{group}' uses {model.model}, retiring on {retires.isoformat()} ({days} days) per {source}",
                f"plan the move of models.{group}.model to its successor",
                subject=group,
            )
        ]
    return []
