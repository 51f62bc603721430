"""The gateway config: ``templates/litellm-config.yaml.j2`` rendered from one ``StackSpec``.

The template lays out LiteLLM's structure; this module computes the values (once, from the spec and
``infra.chains``) and emits each through the ``yaml`` filter. Secrets never appear: provider keys, the master key
and Redis credentials are ``os.environ/NAME`` references the proxy resolves at start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2

from infra.catalog import StackSpec
from infra.catalog.models import Catalog, Client, Gateway, Retries
from infra.chains import chain_for, max_price_per_token, retries_for
from infra.observability import redacts_content, trace_callbacks

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_NAME = "litellm-config.yaml.j2"

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
#: the gateway service's modules (services/litellm-gateway/llmstack_gateway), loaded by the proxy
BUDGET_CALLBACK = "llmstack_gateway.budget.budget_hook"
ROUTES_CALLBACK = "llmstack_gateway.routes.route_aliases"
#: JSON mode where LiteLLM drops it, and the header naming the parameters it dropped
PARAMS_CALLBACK = "llmstack_gateway.params.request_parameters"
CUSTOM_AUTH = "llmstack_gateway.auth.user_api_key_auth"
#: one JSON record per request on stdout, the Prometheus series, GET /budget and GET /metrics
RECORDS_CALLBACK = "llmstack_gateway.records.request_records"
#: each client's routes before anything else runs (403 naming the route), and the public surface
CLIENTS_CALLBACK = "llmstack_gateway.clients.client_access"
REDIS_ENV = {"host": "REDIS_HOST", "port": "REDIS_PORT", "password": "REDIS_PASSWORD"}

_LITELLM_PREFIX = {"anthropic": "anthropic", "openai": "openai", "gemini": "gemini"}
_CAPABILITY_INFO = {
    "tools": "supports_function_calling",
    "vision": "supports_vision",
    "json": "supports_response_schema",
    "reasoning": "supports_reasoning",
    "pdf": "supports_pdf_input",
}


def yaml_value(value: Any) -> str:
    """One value as flow-style YAML that ``yaml.safe_load`` reads back exactly.

    Strings are double-quoted with everything but printable ASCII escaped, so nothing in the catalog can start
    a new key, a comment or an anchor. Floats always carry a decimal point, because PyYAML (YAML 1.1)
    reads ``3e-06`` as a *string*: a price that LiteLLM would then ignore.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        if text in ("inf", "-inf", "nan"):
            raise ValueError(f"cannot render non-finite number {text}")
        mantissa, e, exponent = text.partition("e")
        if "." not in mantissa:
            mantissa += ".0"
        return mantissa + (e + exponent if e else "")
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_key(str(k))}: {yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(v) for v in value) + "]"
    raise TypeError(f"cannot render {type(value).__name__} into the gateway config")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar; anything but printable ASCII is escaped (\\u or \\U, never a surrogate
    pair, which PyYAML would read back as two characters)."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def _key(key: str) -> str:
    quoted = _quoted(key)
    # YAML limits implicit keys to 1024 characters; a longer one needs the explicit "? " form
    return quoted if len(quoted) <= 1000 else f"? {quoted} "


def per_token(price_per_mtok: float) -> float:
    """USD per million tokens -> USD per token, without binary noise (0.3/1e6 is 2.9999999999999997e-07)."""
    return float(Decimal(repr(price_per_mtok)) / Decimal(1_000_000))


def retry_policy(retries: Retries) -> dict[str, int]:
    return {
        "RateLimitErrorRetries": retries.rate_limit,
        "InternalServerErrorRetries": retries.server_error,
        "ServiceUnavailableErrorRetries": retries.server_error,
        "TimeoutErrorRetries": retries.timeout,
        # a bad request, a wrong key or an unknown model does not heal by retrying
        "BadRequestErrorRetries": 0,
        "AuthenticationErrorRetries": 0,
        "NotFoundErrorRetries": 0,
        "ContentPolicyViolationErrorRetries": 0,
    }


@dataclass(frozen=True)
class Deployment:
    group: str
    litellm_model: str
    api_key_ref: str
    api_base: str | None
    timeout_s: float
    input_cost_per_token: float
    output_cost_per_token: float
    model_info: dict[str, Any]


def deployments(spec: StackSpec, api_bases: Mapping[str, str] | None = None) -> list[Deployment]:
    catalog = spec.catalog
    out: list[Deployment] = []
    for group, model in catalog.models.items():
        provider = catalog.providers[model.provider]
        kind = provider.resolved_kind(model.provider)
        info: dict[str, Any] = {
            "id": f"{spec.name}-{group}",
            "input_cost_per_token": per_token(model.price_per_mtok.input),
            "output_cost_per_token": per_token(model.price_per_mtok.output),
            "max_input_tokens": model.context_window,
            "max_output_tokens": model.max_output_tokens,
        }
        for capability, flag in _CAPABILITY_INFO.items():
            info[flag] = capability in model.capabilities
        out.append(
            Deployment(
                group=group,
                litellm_model=f"{_LITELLM_PREFIX[kind]}/{model.model}",
                api_key_ref=f"os.environ/{provider.resolved_env(model.provider)}",
                api_base=(api_bases or {}).get(kind),
                timeout_s=catalog.router.timeout_s,
                input_cost_per_token=info["input_cost_per_token"],
                output_cost_per_token=info["output_cost_per_token"],
                model_info=info,
            )
        )
    return out


def _fallback_list(table: Mapping[str, list[str]], catalog: Catalog) -> list[dict[str, list[str]]]:
    return [
        {source: list(targets)} for source, targets in table.items() if source in catalog.models and targets
    ]


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML, not HTML: escaping is the `yaml` filter's job
        keep_trailing_newline=True,
    )
    env.filters["yaml"] = yaml_value
    return env


def budget_section(spec: StackSpec) -> dict[str, Any]:
    """What the gateway's budget hook needs. A group's reservation is priced at the highest price anywhere
    along its chains: a request for a cheap group that falls back to an expensive one must fit either way."""
    catalog = spec.catalog
    groups: dict[str, dict[str, Any]] = {}
    for group, model in catalog.models.items():
        chains = [chain_for(catalog, group, kind) for kind in ("generic", "context_window", "content_policy")]
        prices = [max_price_per_token(catalog, chain) for chain in chains]
        groups[group] = {
            "input_per_token": max(p[0] for p in prices),
            "output_per_token": max(p[1] for p in prices),
            "max_output_tokens": model.max_output_tokens,
        }
    for route, group in catalog.routes.items():
        if group in groups:
            groups[route] = groups[group]
    budget = catalog.budget
    return {
        "stack": spec.name,
        "daily_usd": budget.daily_usd,
        "alert_thresholds": list(budget.alert_thresholds),
        "timezone": budget.timezone,
        "allow_when_counter_unavailable": budget.allow_when_counter_unavailable,
        "shared_state": catalog.gateway.shared_state,
        "groups": groups,
    }


def with_in_memory_counter(spec: StackSpec) -> StackSpec:
    """The stack as a local run serves it (`llmstack local`, drills, tests): one process, the budget counter in
    that process's memory. Never deployed: `llmstack check` refuses ``shared_state: none`` in a stack. A local run
    hands out no client keys, so its one user, the operator, calls with the master key."""
    gateway = Gateway(replicas=1, workers=1, shared_state="none", master_key_completions=True)
    return dataclasses.replace(spec, catalog=spec.catalog.model_copy(update={"gateway": gateway}))


def render_context(
    spec: StackSpec,
    api_bases: Mapping[str, str] | None = None,
    *,
    budget_hook: bool = True,
    master_key_completions: bool | None = None,
) -> dict[str, Any]:
    catalog = spec.catalog
    configured = catalog.router.retries
    redis = (
        {key: f"os.environ/{env}" for key, env in REDIS_ENV.items()}
        if catalog.gateway.shared_state == "redis"
        else None
    )
    return {
        "stack": spec.name,
        "catalog_file": spec.sources.catalog.file,
        "deployments": deployments(spec, api_bases),
        "router": catalog.router,
        "retry_policy": retry_policy(configured),
        "group_retry_policies": {g: retry_policy(retries_for(catalog, g)) for g in catalog.models},
        "fallbacks": _fallback_list(catalog.fallbacks, catalog),
        "context_window_fallbacks": _fallback_list(catalog.context_window_fallbacks, catalog),
        "content_policy_fallbacks": _fallback_list(catalog.content_policy_fallbacks, catalog),
        "routes": dict(catalog.routes),
        "redis": redis,
        "request_timeout_s": catalog.router.max_request_s,
        "master_key_ref": f"os.environ/{MASTER_KEY_ENV}",
        "custom_auth": CUSTOM_AUTH,
        "callbacks": [
            CLIENTS_CALLBACK,
            ROUTES_CALLBACK,
            PARAMS_CALLBACK,
            # records after the budget: each request's record and metrics once its hold is settled or released
            *([BUDGET_CALLBACK, RECORDS_CALLBACK] if budget_hook else []),
            *trace_callbacks(catalog.observability),
        ],
        "budget": budget_section(spec),
        "redact_content": redacts_content(catalog.observability),
        "clients": clients_section(
            spec,
            catalog.gateway.master_key_completions
            if master_key_completions is None
            else master_key_completions,
        ),
    }


def clients_section(spec: StackSpec, master_key_completions: bool) -> dict[str, Any]:
    """Who may call the gateway: each client's key as a reference to its variable (never a value), its routes,
    its share of the day's cap and whether it may read ``GET /budget``; and whether the master key, the operators'
    key, may ask for completions."""
    clients: dict[str, dict[str, Any]] = {}
    for name, client in spec.catalog.clients.items():
        entry: dict[str, Any] = {"key": f"os.environ/{Client.key_env(name)}", "routes": list(client.routes)}
        if client.daily_usd is not None:
            entry["daily_usd"] = client.daily_usd
        if client.requests_per_minute is not None:
            entry["requests_per_minute"] = client.requests_per_minute
        if client.read_budget:
            # GET /budget with its own key (llmstack_gateway/clients.py); absent is false, as in the catalog
            entry["read_budget"] = True
        clients[name] = entry
    return {"master_key_completions": master_key_completions, "clients": clients}


def render_gateway_config(
    spec: StackSpec,
    api_bases: Mapping[str, str] | None = None,
    *,
    budget_hook: bool = True,
    master_key_completions: bool | None = None,
) -> str:
    """The LiteLLM proxy config for one stack.

    ``api_bases`` (provider kind -> URL) is for local runs against the simulator only; ``budget_hook=False``
    exists for the benchmark that measures what the hook costs. ``master_key_completions`` overrides the
    catalog's ``gateway.master_key_completions``; a local run against the simulator (``api_bases`` given: the
    drills, the demo, the tests) defaults it to on, as it hands out no client keys.
    """
    if master_key_completions is None and api_bases is not None:
        master_key_completions = True
    template = template_environment().get_template(TEMPLATE_NAME)
    context = render_context(
        spec, api_bases, budget_hook=budget_hook, master_key_completions=master_key_completions
    )
    return template.render(**context)


def provider_env_names(spec: StackSpec) -> dict[str, str]:
    """Environment variable -> Secret Manager secret id, for every provider an enabled group uses."""
    catalog = spec.catalog
    used = {model.provider for model in catalog.models.values()}
    return {
        catalog.providers[name].resolved_env(name): catalog.providers[name].api_key_secret
        for name in catalog.providers
        if name in used
    }
