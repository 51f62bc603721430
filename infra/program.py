"""The Pulumi program: stack -> StackSpec -> stop on errors -> wire components. Nothing else happens here.

Validation runs before the first resource is registered, so an invalid catalog never half-deploys.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

from infra.catalog import PROJECT, InvalidStackError, Severity, StackSpec, load_stack
from infra.catalog.loader import find_project_root
from infra.catalog.models import Client
from infra.checks import has_errors, run_checks
from infra.checks.clients import BOT_CLIENT
from infra.components.bot import ALERTS_URL, Bot, BotArgs
from infra.components.gateway import Gateway, GatewayArgs
from infra.components.railway_project import RailwayProject, RailwayProjectArgs
from infra.components.secrets import SecretSpec, SecretStore, SecretStoreArgs
from infra.components.stores import Cache, Database, StoreArgs
from infra.observability import (
    bot_trace_secrets,
    bot_trace_variables,
    gateway_trace_secrets,
    gateway_trace_variables,
)
from infra.railway.tokens import TOKEN_CONFIG_KEY, RailwayTokenError, resolve_token
from infra.render import provider_env_names, render_gateway_config

MASTER_KEY_SECRET = "LITELLM-MASTER-KEY"
BOT_TOKEN_SECRET = "TELEGRAM-BOT-TOKEN"
WEBHOOK_SECRET = "TELEGRAM-WEBHOOK-SECRET"
ALERTS_SECRET = "BOT-ALERTS-SECRET"
#: generated when the stack supplies no value: 48 characters from [A-Za-z0-9]
GENERATED_LENGTH = 48


def engine_config() -> dict[str, Any]:
    """Every config key the engine resolved for this stack, structured values decoded from JSON."""
    flat: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    decoded: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        decoded[key] = value
    secrets = decoded.get(f"{PROJECT}:secrets")
    # the loader only needs which ids have values; the values themselves stay in secret Outputs
    if isinstance(secrets, Mapping):
        decoded[f"{PROJECT}:secrets"] = dict.fromkeys(secrets, "<secret>")
    decoded.pop(f"{PROJECT}:railway_token", None)
    return decoded


def check_railway_token(environ: Mapping[str, str]) -> None:
    """Refuse, before any resource, a run without an account or workspace token (a project token in
    RAILWAY_TOKEN included): otherwise it would fail deep inside with Railway's "Not Authorized"."""
    try:
        token = resolve_token(runtime_config.get_config(TOKEN_CONFIG_KEY), environ)
    except RailwayTokenError as exc:
        raise pulumi.RunError(str(exc)) from None  # RunError: the message alone, no traceback
    pulumi.log.info(f"Railway: {token}")


def load_valid_spec(stack: str) -> StackSpec:
    root = find_project_root()
    result = load_stack(stack, stacks_dir=root / "stacks", stack_config=engine_config())
    findings = result.findings if result.spec is None else run_checks(result.spec)
    if result.spec is None or has_errors(findings):
        raise InvalidStackError(stack, findings)
    for finding in findings:
        # an info finding says how the stack works (e.g. budget-counter); only a warning asks for attention
        if finding.severity is Severity.WARNING:
            pulumi.log.warn(finding.format())
        elif finding.severity is Severity.INFO:
            pulumi.log.info(finding.format())
    return result.spec


@dataclass(frozen=True)
class StackOutputs:
    gateway_url: pulumi.Output[str]
    bot_webhook_url: pulumi.Output[str]
    railway_project_id: pulumi.Output[str]
    #: Secret Manager secret id -> what it holds
    secret_ids: dict[str, str]


def secret_values() -> dict[str, pulumi.Output[str]]:
    bag = pulumi.Config(PROJECT).get_secret_object("secrets")
    if bag is None:
        return {}
    ids = engine_config().get(f"{PROJECT}:secrets") or {}
    return {sid: _pick(bag, sid) for sid in ids}


def _pick(bag: pulumi.Output[Any], secret_id: str) -> pulumi.Output[str]:
    return pulumi.Output.secret(bag.apply(lambda values: str(values[secret_id])))


def build(spec: StackSpec, supplied: Mapping[str, pulumi.Output[str]]) -> StackOutputs:
    """Declare the whole stack for a validated spec; ``supplied`` are secret values from Pulumi config."""
    env_to_secret = provider_env_names(spec)
    specs = [SecretSpec(sid, "provider-key", supplied.get(sid)) for sid in env_to_secret.values()]
    specs += [
        SecretSpec(
            MASTER_KEY_SECRET, "gateway-master-key", supplied.get(MASTER_KEY_SECRET), GENERATED_LENGTH
        ),
        SecretSpec(BOT_TOKEN_SECRET, "telegram-bot-token", supplied.get(BOT_TOKEN_SECRET)),
        SecretSpec(WEBHOOK_SECRET, "telegram-webhook-secret", supplied.get(WEBHOOK_SECRET), GENERATED_LENGTH),
        SecretSpec(ALERTS_SECRET, "budget-alerts-secret", supplied.get(ALERTS_SECRET), GENERATED_LENGTH),
    ]
    # a generated key per client of the gateway (catalog clients:), each given to that client only
    client_secrets = {
        Client.key_env(name): client.resolved_secret(name) for name, client in spec.catalog.clients.items()
    }
    specs += [
        SecretSpec(sid, "gateway-client-key", supplied.get(sid), GENERATED_LENGTH)
        for sid in client_secrets.values()
    ]
    # the catalog's observability: section (OTLP headers, Langfuse keys): Secret Manager secrets like provider keys
    trace_secrets = gateway_trace_secrets(spec)
    specs += [
        SecretSpec(sid, "trace-credential", supplied.get(sid))
        for sid in dict.fromkeys(trace_secrets.values())
    ]
    store = SecretStore(
        "secrets", SecretStoreArgs(stack=spec.name, secrets=specs, labels={"app": "llmstack"})
    )
    railway = spec.deploy.railway
    api_url = railway.api_url
    project = RailwayProject(
        "railway",
        RailwayProjectArgs(
            project_name=railway.project_name or f"llmstack-{spec.name}",
            environment_name=spec.name,
            workspace_id=railway.workspace_id,
            api_url=api_url,
        ),
    )
    ids = {"project_id": project.project_id, "environment_id": project.environment_id}
    store_args = StoreArgs(
        region=railway.region,
        api_url=api_url,
        deploy_timeout_s=spec.deploy.services.deploy_timeout_s,
        **ids,
    )
    database = Database("postgres", store_args)
    # every stack keeps its budget counter in Redis (issue 9): a redeploy or crash keeps the day's spend
    cache = Cache("redis", store_args)
    gateway = Gateway(
        "gateway",
        GatewayArgs(
            spec=spec,
            config_text=render_gateway_config(spec),
            provider_keys={env: store.values[sid] for env, sid in env_to_secret.items()},
            master_key=store.values[MASTER_KEY_SECRET],
            alerts_secret=store.values[ALERTS_SECRET],
            alerts_url=ALERTS_URL,
            cache=cache,
            api_url=api_url,
            client_keys={env: store.values[sid] for env, sid in client_secrets.items()},
            trace_variables={
                **gateway_trace_variables(spec),
                **{env: store.values[sid] for env, sid in trace_secrets.items()},
            },
            **ids,
        ),
    )
    bot = Bot(
        "bot",
        BotArgs(
            spec=spec,
            # the bot's own client key; the master key only for a catalog without a bot client (it then needs
            # gateway.master_key_completions, which infra/checks/clients.py insists on)
            gateway_key=store.values[
                client_secrets[Client.key_env(BOT_CLIENT)]
                if BOT_CLIENT in spec.catalog.clients
                else MASTER_KEY_SECRET
            ],
            bot_token=store.values[BOT_TOKEN_SECRET],
            webhook_secret=store.values[WEBHOOK_SECRET],
            alerts_secret=store.values[ALERTS_SECRET],
            database=database,
            trace_variables={
                **bot_trace_variables(spec),
                **{env: store.values[sid] for env, sid in bot_trace_secrets(spec).items()},
            },
            # the bot talks to the gateway from its first update: deploy it once the gateway serves
            deploy_after=(gateway.serving,),
            api_url=api_url,
            **ids,
        ),
    )
    secret_ids = {secret.secret_id: secret.purpose for secret in specs}
    pulumi.export("gateway_url", gateway.url)
    pulumi.export("bot_webhook_url", bot.webhook_url)
    pulumi.export("railway_project_id", project.project_id)
    pulumi.export("railway_environment_id", project.environment_id)
    pulumi.export("secret_ids", secret_ids)
    pulumi.export("deployer_service_account", store.deployer.email)
    pulumi.export("gateway_master_key", pulumi.Output.secret(store.values[MASTER_KEY_SECRET]))
    return StackOutputs(gateway.url, bot.webhook_url, project.project_id, secret_ids)


def main(*, check_token: bool = True) -> None:
    """``check_token=False`` only for the dry run under mocks (`make plan`), which calls no API."""
    spec = load_valid_spec(pulumi.get_stack())
    if check_token:
        check_railway_token(os.environ)
    build(spec, secret_values())
