"""Property: whatever ``check`` accepts renders to a config that LiteLLM parses and builds a real Router from."""

from __future__ import annotations

import datetime as dt
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from infra.catalog import build_spec
from infra.catalog.yamlsource import parse_yaml
from infra.checks import has_errors, run_checks
from infra.render import render_gateway_config
from tests.litellm.conftest import build_router

MODELS = {
    "anthropic": ["claude-sonnet-4-6", "claude-sonnet-5", "claude-haiku-4-5"],
    "openai": ["gpt-4o", "gpt-4.1", "gpt-5-mini"],
    "gemini": ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"],
}
CAPS = ["tools", "vision", "json"]


DEFECTS = [
    "price",
    "zero-price",
    "strategy",
    "legacy-strategy",
    "budget",
    "gateway",
    "graph",
    "timing",
    "caps",
]


@st.composite
def catalogs(draw: st.DrawFn) -> dict[str, Any]:
    """Catalogs that are valid about half the time; the others carry one drawn defect, or a random graph."""
    defect = draw(st.sampled_from([None] * len(DEFECTS) + DEFECTS))
    # one provider, or a single group, can never survive a provider's loss: drawn only as the "graph" defect
    lone = defect == "graph" and draw(st.booleans())
    providers = draw(
        st.lists(st.sampled_from(sorted(MODELS)), min_size=1 if lone else 2, max_size=3, unique=True)
    )
    names = [f"g{i}" for i in range(draw(st.integers(1 if lone else len(providers), 6)))]
    caps = draw(st.lists(st.sampled_from(CAPS), unique=True))
    models = {}
    for i, name in enumerate(names):
        # the first groups spread over the providers, so a designed graph has somewhere to fail over to
        provider = providers[i] if i < len(providers) else draw(st.sampled_from(providers))
        models[name] = {
            "provider": provider,
            "model": draw(st.sampled_from(MODELS[provider])),
            "price_per_mtok": {
                "input": draw(st.sampled_from([0.1, 1.25, 3.0])),
                "output": draw(st.sampled_from([0.4, 10.0, 15.0])),
            },
            "context_window": draw(st.sampled_from([8000, 128000, 200000])),
            "max_output_tokens": draw(st.sampled_from([1024, 4096, 8192])),
            "capabilities": caps,
        }
    victim = models[draw(st.sampled_from(names))]
    if defect == "price":
        victim["price_per_mtok"]["input"] = -1.0
    elif defect == "zero-price":
        victim["price_per_mtok"] = {"input": 0.0, "output": 0.0}
    elif defect == "caps":
        victim["capabilities"] = draw(st.lists(st.sampled_from(CAPS), unique=True))
    target = st.sampled_from([*names, "unknown-group"])
    if defect == "graph":
        fallbacks = draw(
            st.dictionaries(st.sampled_from(names), st.lists(target, max_size=3), max_size=len(names))
        )
    else:
        # a designed graph: every group falls back to groups on other providers (when there are any)
        fallbacks = {}
        for name in names:
            others = [n for n in names if models[n]["provider"] != models[name]["provider"]]
            if others:
                fallbacks[name] = draw(st.lists(st.sampled_from(others), min_size=1, max_size=2, unique=True))
    routes = draw(
        st.dictionaries(
            st.sampled_from(["simple", "balanced", "vision"]),
            target if defect == "graph" else st.sampled_from(names),
            max_size=3,
        )
    )
    strategy = {"strategy": "bogus", "legacy-strategy": "usage-based-routing"}.get(
        defect or "", "simple-shuffle"
    )
    return {
        "providers": {p: {"api_key_secret": f"{p.upper()}-API"} for p in providers},
        "models": models,
        "fallbacks": fallbacks,
        "routes": routes,
        "router": {
            "routing_strategy": strategy,
            "timeout_s": draw(st.sampled_from([5, 30, 60])),
            "retries": {
                "rate_limit": draw(st.integers(0, 2)),
                "server_error": 0,
                "timeout": draw(st.integers(0, 1)),
            },
            "max_fallbacks": draw(st.integers(1, 4)),
            "max_request_s": 30 if defect == "timing" else 1000,
        },
        "budget": {"daily_usd": -1 if defect == "budget" else 50.0, "alert_thresholds": [0.5, 1.0]},
        "gateway": (
            {"replicas": 1, "workers": 2, "shared_state": "none"}
            if defect == "gateway"
            else draw(
                st.sampled_from(
                    [
                        {"replicas": 1, "workers": 1},
                        {"replicas": 2, "workers": 2, "shared_state": "redis"},
                    ]
                )
            )
        ),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalogs())
def test_whatever_check_accepts_builds_a_real_router(catalog: dict[str, Any]) -> None:
    from litellm.proxy._types import ConfigYAML

    document = parse_yaml(yaml.safe_dump(catalog, sort_keys=False), "stacks/catalog.yaml")
    loaded = build_spec("prop", document, None, {})
    if loaded.spec is None or has_errors(loaded.findings):
        return
    findings = run_checks(loaded.spec, dt.date(2026, 12, 1))
    if has_errors(findings):
        event("rejected by a check")
        return
    event("accepted and rendered")
    config = yaml.safe_load(render_gateway_config(loaded.spec))
    ConfigYAML(**config)
    router = build_router(config)
    # every group is served and every route alias resolves (get_model_names lists both)
    assert sorted(router.get_model_names()) == sorted([*catalog["models"], *catalog["routes"]])
    for deployment in config["model_list"]:
        assert (
            deployment["litellm_params"]["input_cost_per_token"]
            + deployment["litellm_params"]["output_cost_per_token"]
            > 0
        )


@settings(max_examples=200, deadline=None)
@given(catalogs())
def test_accepted_catalogs_keep_their_promises(catalog: dict[str, Any]) -> None:
    """Invariants of an accepted stack, independent of LiteLLM: every group reaches a second provider, and
    the budget is a positive number."""
    from infra.chains import all_chains

    document = parse_yaml(yaml.safe_dump(catalog, sort_keys=False), "stacks/catalog.yaml")
    loaded = build_spec("prop", document, None, {})
    if loaded.spec is None:
        return
    findings = run_checks(loaded.spec, dt.date(2026, 12, 1))
    if has_errors(findings):
        return
    spec = loaded.spec
    assert spec.catalog.budget.daily_usd > 0
    assert spec.catalog.router.routing_strategy != "usage-based-routing"
    # every deployed stack keeps its budget counter in Redis, whatever its number of processes
    assert spec.catalog.gateway.shared_state == "redis"
    for group, chain in all_chains(spec.catalog).items():
        assert len(chain.providers) >= 2, group
