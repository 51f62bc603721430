"""The Pulumi program under mocks, for every stack file: what it declares, and how it handles secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.catalog import InvalidStackError, discover_stacks
from infra.dryrun import ProgramRun, describe, is_secret, run_program, stack_config, unwrap
from infra.render import render_gateway_config
from tests.conftest import ROOT, STACKS, StackWorkspace

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
STACK_NAMES = discover_stacks(STACKS)

#: values the tests supply as Pulumi config secrets; unique, so a leak anywhere is found by search
SUPPLIED = {
    "ANTHROPIC-API": "supplied-anthropic-key-7f3a",
    "TELEGRAM-BOT-TOKEN": "supplied-bot-token-91c2",
}


def run(stack: str, supplied: dict[str, str] | None = None) -> ProgramRun:
    config, secret_keys = stack_config(
        STACKS / f"Pulumi.{stack}.yaml", SUPPLIED if supplied is None else supplied
    )
    result = run_program(stack, config, secret_keys)
    assert result.error is None, result.error
    return result


@pytest.fixture(scope="module", params=STACK_NAMES)
def stack_run(request: pytest.FixtureRequest) -> tuple[str, ProgramRun]:
    return request.param, run(request.param)


def every_plain_value(run_: ProgramRun) -> set[str]:
    """Every value a supplied, generated or out-of-band secret can take in this run."""
    values = set(SUPPLIED.values())
    for registration in run_.registrations:
        if registration.type == "random:index/randomPassword:RandomPassword":
            values.add(unwrap(registration.outputs["result"]))
    values |= {f"out-of-band-{args['secret']}" for token, args in run_.invokes if "getSecretVersion" in token}
    return values


def test_declared_resources_match_the_reviewed_snapshot(stack_run: tuple[str, ProgramRun]) -> None:
    """Regenerate after a reviewed change: UPDATE_SNAPSHOTS=1 make test."""
    stack, result = stack_run
    snapshot = json.dumps(result.snapshot(), indent=1, sort_keys=True) + "\n"
    path = SNAPSHOTS / f"{stack}.json"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(snapshot)
    assert path.exists(), f"no snapshot for {stack}: UPDATE_SNAPSHOTS=1 make test, then review it"
    assert snapshot == path.read_text(), f"the resources of {stack} changed; review, then UPDATE_SNAPSHOTS=1"


def test_no_secret_value_appears_in_the_snapshot_or_exports(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    public = json.dumps(result.snapshot()) + json.dumps(
        {k: v for k, v in result.exports.items() if not result.export_secrets[k]}
    )
    leaked = [value for value in every_plain_value(result) if value in public]
    assert not leaked


def test_secret_inputs_are_secret(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    for variables in result.of_type("railway:Variables"):
        assert is_secret(variables.inputs["variables"]), variables.name
    for version in result.of_type("secretVersion:SecretVersion"):
        assert is_secret(version.inputs["secretData"]), version.name
    (webhook,) = result.of_type("telegram:Webhook")
    assert is_secret(webhook.inputs["bot_token"]) and is_secret(webhook.inputs["secret_token"])
    assert {"bot_token", "secret_token"} <= set(webhook.additional_secret_outputs)


def test_secret_outputs_are_secret(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    for password in result.of_type("randomPassword:RandomPassword"):
        assert is_secret(password.outputs["result"]), password.name
    assert result.export_secrets["gateway_master_key"] is True
    for public in ("gateway_url", "bot_webhook_url", "railway_project_id", "secret_ids"):
        assert result.export_secrets[public] is False, public
    for variables in result.of_type("railway:Variables"):
        assert "variables" not in variables.outputs  # only names and a digest are kept in state


def test_no_provider_key_reaches_the_bot(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    bot = unwrap(result.named("bot-app-variables").inputs["variables"])
    gateway = unwrap(result.named("gateway-app-variables").inputs["variables"])
    provider_envs = [name for name in gateway if name.endswith("_API_KEY")]
    assert provider_envs, "the gateway must receive the provider keys"
    provider_values = {gateway[name] for name in provider_envs}
    assert not set(bot) & set(provider_envs)
    assert not provider_values & set(bot.values())
    # what the bot does get: the gateway's private address and a key for it, its token, the database
    assert bot["GATEWAY_BASE_URL"] == "http://${{gateway.RAILWAY_PRIVATE_DOMAIN}}:4000"
    # its own client key, which the gateway also holds under the name its config reads; never the master key
    assert bot["GATEWAY_API_KEY"] == gateway["LLMSTACK_CLIENT_BOT_KEY"]
    assert gateway["LITELLM_MASTER_KEY"] not in bot.values()
    assert gateway["LLMSTACK_CLIENT_TOOLS_KEY"] not in bot.values()
    assert bot["TELEGRAM_BOT_TOKEN"] == SUPPLIED["TELEGRAM-BOT-TOKEN"]
    assert bot["DATABASE_URL"] == "${{postgres.DATABASE_URL}}"


def test_each_client_gets_a_generated_key_of_its_own(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    gateway = unwrap(result.named("gateway-app-variables").inputs["variables"])
    client_keys = {name: gateway[name] for name in ("LLMSTACK_CLIENT_BOT_KEY", "LLMSTACK_CLIENT_TOOLS_KEY")}
    assert len(set(client_keys.values()) | {gateway["LITELLM_MASTER_KEY"]}) == 3
    secret_ids = {unwrap(s.inputs["secretId"]) for s in result.of_type("gcp:secretmanager/secret:Secret")}
    assert {"LLMSTACK-CLIENT-BOT-KEY", "LLMSTACK-CLIENT-TOOLS-KEY"} <= secret_ids


def test_gateway_gets_the_rendered_config_and_its_keys(stack_run: tuple[str, ProgramRun]) -> None:
    from infra.catalog import load_stack

    stack, result = stack_run
    spec = load_stack(stack, stacks_dir=STACKS).spec
    assert spec is not None
    gateway = unwrap(result.named("gateway-app-variables").inputs["variables"])
    assert gateway["LITELLM_CONFIG_YAML"] == render_gateway_config(spec)
    assert gateway["ANTHROPIC_API_KEY"] == SUPPLIED["ANTHROPIC-API"]
    assert gateway["GEMINI_API_KEY"] == "out-of-band-GEMINI-API"  # read from the latest version
    assert gateway["LITELLM_NUM_WORKERS"] == str(spec.catalog.gateway.workers)
    settings = unwrap(result.named("gateway-app-service").inputs["settings"])
    assert settings["replicas"] == spec.catalog.gateway.replicas
    assert settings["healthcheck_path"] == "/health/ready"


def test_every_stack_keeps_its_budget_counter_in_redis_on_a_volume(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    services = {unwrap(s.inputs["name"]) for s in result.of_type("railway:Service")}
    assert {"gateway", "bot", "postgres", "redis"} <= services
    gateway = unwrap(result.named("gateway-app-variables").inputs["variables"])
    assert gateway["REDIS_HOST"] == "${{redis.RAILWAY_PRIVATE_DOMAIN}}"
    assert gateway["REDIS_PORT"] == "6379"
    assert gateway["REDIS_PASSWORD"] == "${{redis.REDIS_PASSWORD}}"
    redis = unwrap(result.named("redis-app-variables").inputs["variables"])
    assert redis["REDIS_PASSWORD"] == unwrap(result.named("redis-password").outputs["result"])
    assert result.named("redis-app-volume").inputs["mount_path"] == "/data"
    command = unwrap(result.named("redis-app-service").inputs["settings"])["start_command"]
    for flag in (
        "--requirepass $REDIS_PASSWORD",
        "--appendonly yes",
        "--appendfsync everysec",
        "--dir /data",
    ):
        assert flag in command


def test_postgres_has_a_volume_and_a_generated_password(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    volume = result.named("postgres-app-volume")
    assert volume.inputs["mount_path"] == "/var/lib/postgresql/data"
    variables = unwrap(result.named("postgres-app-variables").inputs["variables"])
    assert variables["POSTGRES_PASSWORD"] == unwrap(result.named("postgres-password").outputs["result"])
    assert variables["PGDATA"].startswith("/var/lib/postgresql/data/")


def test_deployer_may_read_exactly_the_stacks_secrets(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    secrets = result.of_type("secretmanager/secret:Secret")
    grants = result.of_type("secretIamMember:SecretIamMember")
    assert len(grants) == len(secrets)
    assert {g.inputs["role"] for g in grants} == {"roles/secretmanager.secretAccessor"}
    (deployer,) = result.of_type("serviceaccount/account:Account")
    assert {g.inputs["member"] for g in grants} == {f"serviceAccount:{deployer.outputs['email']}"}
    # nothing wider: no project-level or service-account-level IAM
    assert not result.of_type("projects/iAMMember:IAMMember")
    assert not result.of_type("serviceaccount/iAMMember:IAMMember")


def test_secrets_are_labelled_and_replicated(stack_run: tuple[str, ProgramRun]) -> None:
    stack, result = stack_run
    for secret in result.of_type("secretmanager/secret:Secret"):
        assert secret.inputs["replication"] == {"auto": {}}
        assert secret.inputs["labels"]["stack"] == stack
        assert secret.inputs["labels"]["purpose"]


def test_values_come_from_config_else_generated_else_latest_version(
    stack_run: tuple[str, ProgramRun],
) -> None:
    _, result = stack_run
    versions = {v.name for v in result.of_type("secretVersion:SecretVersion")}
    read = {args["secret"] for token, args in result.invokes if "getSecretVersion" in token}
    assert "secrets-anthropic-api-version" in versions  # supplied in config
    assert "secrets-litellm-master-key-version" in versions  # generated
    assert "GEMINI-API" in read  # neither: the latest version added out of band
    assert "ANTHROPIC-API" not in read


def test_every_resource_belongs_to_a_component(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    for registration in result.registrations:
        if registration.type.startswith("llmstack:"):
            continue
        assert "$llmstack:" in registration.parent_urn, f"{registration.name} is not parented to a component"
        # child names are derived from the component's name
        parent_name = registration.parent_urn.rsplit("::", 1)[-1]
        assert registration.name.startswith(parent_name), (registration.name, parent_name)


def test_each_service_deploys_after_what_it_needs_and_serves_before_what_needs_it(
    stack_run: tuple[str, ProgramRun],
) -> None:
    _, result = stack_run

    def waits_for(name: str) -> set[str]:
        return set(result.named(name).depends_on)

    for app in ("postgres-app", "redis-app", "gateway-app", "bot-app"):
        # its settings (the service), variables and volume/domain exist before anything can start a build
        own = {f"{app}-service", f"{app}-variables"}
        own |= {r.name for r in result.registrations if r.name in (f"{app}-volume", f"{app}-domain")}
        assert own <= waits_for(f"{app}-deployment"), app
    assert "redis-app-deployment" in waits_for("gateway-app-deployment")
    # Railway resolves ${{redis.REDIS_PASSWORD}} when the gateway deploys: a new password redeploys it
    assert "redis-password" in waits_for("gateway-app-deployment")
    assert "postgres-password" in waits_for("bot-app-deployment")
    assert "gateway-app-deployment" in waits_for("gateway-serving")
    # the bot starts once the gateway serves, and its database is deployed
    assert {"gateway-serving", "postgres-app-deployment"} <= waits_for("bot-app-deployment")
    assert "bot-app-deployment" in waits_for("bot-serving")
    # Telegram delivers as soon as the webhook is set: only to a bot that serves
    assert "bot-serving" in waits_for("bot-webhook")
    (webhook,) = result.of_type("telegram:Webhook")
    assert webhook.inputs["url"] == result.exports["bot_webhook_url"]
    assert webhook.inputs["url"].endswith("/telegram/webhook")


def test_deployments_connect_their_source_and_wait_within_the_stacks_time(
    stack_run: tuple[str, ProgramRun],
) -> None:
    from infra.catalog import load_stack

    stack, result = stack_run
    spec = load_stack(stack, stacks_dir=STACKS).spec
    assert spec is not None
    for app in ("postgres-app", "redis-app", "gateway-app", "bot-app"):
        deployment = result.named(f"{app}-deployment").inputs
        service = result.named(f"{app}-service").inputs
        assert deployment["source"] == unwrap(service["source"])  # the repository is connected here
        assert deployment["service_name"] == unwrap(service["name"])
        assert deployment["timeout_s"] == spec.deploy.services.deploy_timeout_s
        settings = unwrap(service["settings"])
        # replicas and region as the Service takes them (it sends multiRegionConfig, never both)
        assert settings["region"] == spec.deploy.railway.region and settings["replicas"] >= 1


def test_the_serving_checks_ask_what_proves_each_service_serves(stack_run: tuple[str, ProgramRun]) -> None:
    from infra.catalog import load_stack

    stack, result = stack_run
    spec = load_stack(stack, stacks_dir=STACKS).spec
    assert spec is not None
    gateway = result.named("gateway-serving")
    assert gateway.inputs["base_url"] == result.exports["gateway_url"]
    assert gateway.inputs["timeout_s"] == spec.deploy.services.serving_timeout_s
    assert gateway.inputs["revision"] == "railway-gateway-app-deployment"  # re-run by each new deployment
    probes = {p["name"]: p for p in gateway.inputs["probes"]}
    assert probes["gateway readiness"]["path"] == "/health/ready"
    if spec.catalog.gateway.shared_state == "redis":
        assert probes["gateway readiness"]["expect_json"]["budget_counter"] == "redis"
    assert probes["gateway refuses a request without the key"]["expect_status"] == 401
    listed = probes["gateway answers the stack's key with its routes and groups"]
    assert listed["authenticated"] is True
    assert set(listed["expect_model_ids"]) == set(spec.catalog.routes) | set(spec.catalog.models)
    # the key: the master key, secret in, never an output
    assert is_secret(gateway.inputs["key"])
    master = unwrap(result.named("gateway-app-variables").inputs["variables"])["LITELLM_MASTER_KEY"]
    assert unwrap(gateway.inputs["key"]) == master
    assert "key" in gateway.additional_secret_outputs
    bot = result.named("bot-serving")
    assert bot.inputs["base_url"] == result.exports["bot_webhook_url"].removesuffix("/telegram/webhook")
    assert [p["path"] for p in bot.inputs["probes"]] == ["/health"] and "key" not in bot.inputs


def test_a_project_token_is_refused_before_any_resource(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.program import main

    config, secret_keys = stack_config(STACKS / "Pulumi.dev.yaml", SUPPLIED)
    monkeypatch.delenv("RAILWAY_API_TOKEN", raising=False)
    monkeypatch.setenv("RAILWAY_TOKEN", "0f0e0d0c-project-token-0000")
    result = run_program("dev", config, secret_keys, program=main)
    assert isinstance(result.error, pulumi.RunError)
    message = str(result.error)
    assert "RAILWAY_TOKEN is set, and in Railway's convention it holds a project token" in message
    assert "pulumi config set --secret llmstack:railway_token" in message and "RAILWAY_API_TOKEN" in message
    assert "0f0e0d0c-project-token-0000" not in message
    assert result.registrations == []
    monkeypatch.delenv("RAILWAY_TOKEN")
    none = run_program("dev", config, secret_keys, program=main)
    assert isinstance(none.error, pulumi.RunError) and "no Railway token" in str(none.error)


def test_an_account_token_lets_the_program_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.program import main

    config, secret_keys = stack_config(STACKS / "Pulumi.dev.yaml", SUPPLIED)
    monkeypatch.setenv("RAILWAY_TOKEN", "a-project-token-is-ignored-when-an-api-token-is-set")
    monkeypatch.setenv("RAILWAY_API_TOKEN", "account-token-value")
    result = run_program("dev", config, secret_keys, program=main)
    assert result.error is None and result.registrations


def test_stack_outputs(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    assert result.exports["gateway_url"].startswith("https://")
    assert result.exports["railway_project_id"]
    assert set(result.exports["secret_ids"]) >= {"LITELLM-MASTER-KEY", "TELEGRAM-BOT-TOKEN", "ANTHROPIC-API"}


def test_a_stack_without_supplied_secrets_reads_every_value_out_of_band() -> None:
    result = run("dev", supplied={})
    read = {args["secret"] for token, args in result.invokes if "getSecretVersion" in token}
    assert {"ANTHROPIC-API", "GEMINI-API", "TELEGRAM-BOT-TOKEN"} <= read
    assert "OPENAI-API" not in read  # dev does not enable an OpenAI group, so it has no OpenAI secret


def test_an_invalid_stack_fails_with_the_message_and_registers_nothing(
    ws: StackWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.catalog["fallbacks"]["gpt-4o"] = ["claude-sonet"]
    ws.write()
    monkeypatch.chdir(ws.root)
    config: dict[str, Any] = {"llmstack:budget": json.dumps({"daily_usd": -1})}
    result = run_program("test", config, [])
    assert isinstance(result.error, InvalidStackError)
    message = str(result.error)
    assert "nothing was deployed" in message
    assert "stacks/Pulumi.test.yaml" in message and "config.llmstack:budget.daily_usd" in message
    assert "fallbacks.gpt-4o[0]" in message and "did you mean 'claude-sonnet'" in message
    assert result.registrations == []


def test_findings_are_logged_at_their_own_severity(
    ws: StackWorkspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An info finding (budget-counter: how the counter works) is not a warning on every `up`; a warning is."""
    logged: dict[str, list[str]] = {"info": [], "warn": []}
    monkeypatch.setattr(pulumi.log, "info", lambda message, *a, **k: logged["info"].append(message))
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *a, **k: logged["warn"].append(message))
    ws.catalog["clients"]["tools"].pop("daily_usd")  # its share would exceed the tiny cap below (an error)
    ws.write()
    monkeypatch.chdir(ws.root)
    # a cap below one request's worst case: the budget-below-request warning (infra/checks/budget.py)
    config: dict[str, Any] = {"llmstack:budget": json.dumps({"daily_usd": 0.01})}
    result = run_program("test", config, [])
    assert result.error is None, result.error
    assert [m for m in logged["info"] if "info[budget-counter]" in m]
    assert not [m for m in logged["warn"] if "budget-counter" in m], logged["warn"]
    assert [m for m in logged["warn"] if "warning[budget-below-request]" in m], logged["warn"]


def test_make_plan_and_the_readme_name_the_token_a_real_up_needs(stack_run: tuple[str, ProgramRun]) -> None:
    """Issue 10: `make plan`'s output and the README say the same about Railway's tokens."""
    _, result = stack_run
    said = describe(result)[-1]
    assert "Railway account or workspace token" in said
    assert "llmstack:railway_token" in said and "RAILWAY_API_TOKEN" in said
    assert "a project token in RAILWAY_TOKEN is refused before anything is created" in said
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "an account or workspace token in RAILWAY_API_TOKEN" in quick_start
