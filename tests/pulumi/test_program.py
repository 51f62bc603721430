"""The Pulumi program under mocks, for every stack file: what it declares, and how it handles secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from infra.catalog import InvalidStackError, discover_stacks
from infra.dryrun import ProgramRun, is_secret, run_program, stack_config, unwrap
from infra.render import render_gateway_config
from tests.conftest import STACKS, StackWorkspace

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
    assert bot["GATEWAY_API_KEY"] == gateway["LITELLM_MASTER_KEY"]
    assert bot["TELEGRAM_BOT_TOKEN"] == SUPPLIED["TELEGRAM-BOT-TOKEN"]
    assert bot["DATABASE_URL"] == "${{postgres.DATABASE_URL}}"


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


def test_redis_exists_exactly_when_the_gateway_shares_state(stack_run: tuple[str, ProgramRun]) -> None:
    from infra.catalog import load_stack

    stack, result = stack_run
    spec = load_stack(stack, stacks_dir=STACKS).spec
    assert spec is not None
    services = {unwrap(s.inputs["name"]) for s in result.of_type("railway:Service")}
    gateway = unwrap(result.named("gateway-app-variables").inputs["variables"])
    if spec.catalog.gateway.shared_state == "redis":
        assert "redis" in services
        assert gateway["REDIS_HOST"] == "${{redis.RAILWAY_PRIVATE_DOMAIN}}"
    else:
        assert "redis" not in services
        assert "REDIS_HOST" not in gateway
    assert {"gateway", "bot", "postgres"} <= services


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


def test_the_bot_webhook_is_registered_after_the_bot_deploys(stack_run: tuple[str, ProgramRun]) -> None:
    _, result = stack_run
    (webhook,) = result.of_type("telegram:Webhook")
    assert webhook.inputs["url"] == result.exports["bot_webhook_url"]
    assert webhook.inputs["url"].endswith("/telegram/webhook")
    order = [r.name for r in result.registrations]
    assert order.index("bot-app-deployment") < order.index("bot-webhook")


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
