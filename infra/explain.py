"""What a stack's routing does, in words and as a Mermaid graph: shared by ``explain``, ``plan`` and ``diff``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.catalog import StackSpec
from infra.chains import EffectiveChain, all_chains, max_price_per_token, typical_cost_usd, worst_case_s


@dataclass(frozen=True)
class ChainSummary:
    name: str
    #: the model group a route resolves to (the name itself for a group)
    group: str
    is_route: bool
    attempts: tuple[str, ...]
    providers: tuple[str, ...]
    survives_losing: tuple[str, ...]
    fails_if_down: tuple[str, ...]
    worst_case_s: float
    typical_cost_usd: float
    #: USD per token, the highest anywhere along the chain (what a budget reservation assumes)
    reserve_price_in: float
    reserve_price_out: float

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "group": self.group,
            "route": self.is_route,
            "attempts": list(self.attempts),
            "providers": list(self.providers),
            "survives_losing": list(self.survives_losing),
            "fails_if_down": list(self.fails_if_down),
            "worst_case_s": round(self.worst_case_s, 3),
            "typical_cost_usd": round(self.typical_cost_usd, 8),
        }


def summarize(spec: StackSpec) -> list[ChainSummary]:
    catalog = spec.catalog
    chains = all_chains(catalog)
    used_providers = sorted({m.provider for m in catalog.models.values()})
    out: list[ChainSummary] = []
    for name, chain in chains.items():
        is_route = name in catalog.routes
        group = catalog.routes[name] if is_route else name
        out.append(_summary(spec, name, group, is_route, chain, used_providers))
    return out


def _summary(
    spec: StackSpec, name: str, group: str, is_route: bool, chain: EffectiveChain, providers: list[str]
) -> ChainSummary:
    catalog = spec.catalog
    survives = tuple(p for p in providers if chain.survives_loss_of(p))
    price_in, price_out = max_price_per_token(catalog, chain)
    return ChainSummary(
        name=name,
        group=group,
        is_route=is_route,
        attempts=tuple(f"{a.group} ({a.provider})" for a in chain.attempts),
        providers=tuple(chain.providers),
        survives_losing=survives,
        fails_if_down=tuple(p for p in providers if p not in survives),
        worst_case_s=worst_case_s(catalog, chain),
        typical_cost_usd=typical_cost_usd(catalog, group),
        reserve_price_in=price_in,
        reserve_price_out=price_out,
    )


def explain_text(spec: StackSpec) -> str:
    catalog = spec.catalog
    request = catalog.typical_request
    lines = [
        f"stack {spec.name}: {len(catalog.models)} model groups, {len(catalog.routes)} routes, "
        f"daily budget ${catalog.budget.daily_usd:g}, max_fallbacks {catalog.router.max_fallbacks}, "
        f"{catalog.gateway.replicas} replica(s) x {catalog.gateway.workers} worker(s)",
        f"typical request: {request.input_tokens} input + {request.output_tokens} output tokens",
        budget_counter_line(spec),
        "",
    ]
    for summary in summarize(spec):
        kind = f"route -> {summary.group}" if summary.is_route else "group"
        lines.append(f"{summary.name} [{kind}]")
        lines.append(f"  attempt order : {' -> '.join(summary.attempts)}")
        survives = ", ".join(summary.survives_losing) or "none"
        lines.append(f"  survives losing: {survives}")
        if summary.fails_if_down:
            lines.append(f"  fails if down : {', '.join(summary.fails_if_down)}")
        lines.append(f"  worst case    : {summary.worst_case_s:.1f} s")
        lines.append(f"  typical cost  : ${summary.typical_cost_usd:.6f}")
    if spec.disabled_models:
        lines.append("")
        lines.append(f"not enabled in this stack: {', '.join(spec.disabled_models)}")
    return "\n".join(lines) + "\n"


def budget_counter_line(spec: StackSpec) -> str:
    """Where the day's spend is kept and what a restart does to it (the choice the stack's settings imply)."""
    gateway = spec.catalog.gateway
    processes = gateway.replicas * gateway.workers
    if gateway.shared_state == "redis":
        return (
            f"budget counter: in the stack's Redis, shared by {processes} process(es); a redeploy, crash or "
            f"restart keeps the day's spend (the day starts at midnight {spec.catalog.budget.timezone})"
        )
    return "budget counter: in the gateway process's memory (a local run); a restart starts the day at $0"


def _node_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def mermaid(spec: StackSpec) -> str:
    """The fallback graph: groups boxed by provider, numbered fallback edges, routes as entry points."""
    catalog = spec.catalog
    lines = ["flowchart LR"]
    by_provider: dict[str, list[str]] = {}
    for group, model in catalog.models.items():
        by_provider.setdefault(model.provider, []).append(group)
    for provider, groups in by_provider.items():
        lines.append(f"  subgraph {_node_id('p_' + provider)}[{provider}]")
        for group in groups:
            model = catalog.models[group]
            lines.append(f'    {_node_id(group)}["{group}<br/>{model.model}"]')
        lines.append("  end")
    for source, targets in catalog.fallbacks.items():
        for i, target in enumerate(targets, start=1):
            if source in catalog.models and target in catalog.models:
                lines.append(f"  {_node_id(source)} -->|{i}| {_node_id(target)}")
    for kind, table in (
        ("context", catalog.context_window_fallbacks),
        ("policy", catalog.content_policy_fallbacks),
    ):
        for source, targets in table.items():
            for target in targets:
                if source in catalog.models and target in catalog.models:
                    lines.append(f"  {_node_id(source)} -.->|{kind}| {_node_id(target)}")
    for route, group in catalog.routes.items():
        lines.append(f"  {_node_id('r_' + route)}([{route}]) -.-> {_node_id(group)}")
    return "\n".join(lines) + "\n"
