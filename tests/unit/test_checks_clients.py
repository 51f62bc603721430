"""The catalog's clients: each bad case gives an error naming the file, the field and the fix."""

from __future__ import annotations

import pytest
import yaml

from infra.catalog import Severity
from infra.catalog.models import Client
from infra.checks import run_checks
from infra.checks.clients import RESERVED_CLIENT_NAMES
from infra.render import render_gateway_config
from tests.conftest import TODAY, StackWorkspace, one, only


def test_the_shipped_clients_pass(ws: StackWorkspace) -> None:
    findings = ws.findings()
    assert [f for f in findings if f.code.startswith("client")] == []


def test_a_client_allowed_a_name_that_is_neither_route_nor_group(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["routes"] = ["simple", "balancd"]
    finding = one(ws.findings(), "client-unknown-route")
    assert finding.is_error
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "clients.tools.routes[1]"
    assert "client 'tools' is allowed 'balancd', which is neither a route nor a group" in finding.message
    assert "did you mean 'balanced'" in finding.message
    assert "use one of: simple, balanced" in finding.fix


def test_a_client_allowed_a_group_this_stack_does_not_enable(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["routes"] = ["simple", "gpt-4o"]
    ws.config = {
        "llmstack:enabled_models": ["claude-sonnet", "gemini-pro", "gemini-flash"],
        "llmstack:routes": {"vision": "gemini-pro"},
    }
    finding = one(ws.findings(), "client-unknown-route")
    assert "'gpt-4o', which is a group this stack does not enable" in finding.message


def test_a_client_with_no_routes(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["routes"] = []
    finding = one(ws.findings(), "client-no-routes")
    assert finding.is_error
    assert finding.location.field == "clients.tools.routes"
    assert "client 'tools' may use no route" in finding.message
    assert "clients.tools.routes" in finding.fix


def test_shares_adding_up_to_more_than_the_cap(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["bot"]["daily_usd"] = 9.5
    finding = one(ws.findings(), "client-shares-exceed-cap")
    assert finding.is_error
    assert finding.location.field == "clients.bot.daily_usd"
    assert "add up to $10.5 (bot $9.5, tools $1), more than the stack's cap budget.daily_usd of $10" in (
        finding.message
    )
    assert "lower the shares" in finding.fix


def test_shares_checked_against_the_stacks_own_cap(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:budget": {"daily_usd": 0.5}}
    finding = one(ws.findings(), "client-shares-exceed-cap")
    assert "more than the stack's cap budget.daily_usd of $0.5" in finding.message


def test_a_share_that_is_not_positive(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["daily_usd"] = -1.0
    finding = one(ws.findings(), "client-share-invalid")
    assert finding.location.field == "clients.tools.daily_usd"
    assert "a share is a positive number of USD" in finding.message


def test_a_rate_limit_that_is_not_positive(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["requests_per_minute"] = 0
    finding = one(ws.findings(), "client-rate-invalid")
    assert finding.is_error
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "clients.tools.requests_per_minute"
    assert (
        "client 'tools' has requests_per_minute 0; a rate limit is a positive whole number" in finding.message
    )
    assert "set clients.tools.requests_per_minute to a positive number" in finding.fix
    ws.catalog["clients"]["tools"]["requests_per_minute"] = 30
    assert not only(ws.findings(), "client-rate-invalid")


def test_a_rate_limit_is_rendered_only_for_the_client_that_has_one(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["requests_per_minute"] = 30
    result = ws.check()
    assert result.spec is not None
    clients = yaml.safe_load(render_gateway_config(result.spec))["llmstack_clients"]["clients"]
    assert clients["tools"]["requests_per_minute"] == 30
    assert "requests_per_minute" not in clients["bot"]


def test_an_unknown_key_under_a_client(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["route"] = ["simple"]
    findings = ws.findings()
    errors = [f for f in findings if f.is_error and "clients.tools" in f.location.field]
    assert errors, [f.format() for f in findings]
    assert any("route" in f.location.field for f in errors)
    assert any("did you mean 'routes'" in f.message for f in errors), [f.format() for f in errors]


def test_the_bot_client_must_have_the_bots_default_route(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["bot"]["routes"] = ["simple"]
    ws.config = {"llmstack:telegram": {"default_route": "balanced"}}
    finding = one(ws.findings(), "client-missing-bot-route")
    assert finding.location.field == "clients.bot.routes"
    assert "the bot's default route 'balanced'" in finding.message
    assert "add 'balanced' to clients.bot.routes" in finding.fix


def test_clients_overridden_per_stack_point_at_the_stack_file(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:clients": {"tools": {"routes": ["simple", "nope"]}}}
    finding = one(ws.findings(), "client-unknown-route")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:clients.tools.routes[1]"


def test_a_stack_may_add_a_client(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:clients": {"loop": {"routes": ["long-context"], "daily_usd": 2}}}
    result = ws.check()
    assert result.spec is not None and not only(result.findings, "client-unknown-route")
    assert set(result.spec.catalog.clients) == {"bot", "tools", "loop"}


def test_rendered_clients_carry_variable_references_never_keys(ws: StackWorkspace) -> None:
    result = ws.check()
    assert result.spec is not None
    rendered = yaml.safe_load(render_gateway_config(result.spec))
    section = rendered["llmstack_clients"]
    assert section["master_key_completions"] is False
    assert section["clients"]["bot"] == {
        "key": f"os.environ/{Client.key_env('bot')}",
        "routes": ["simple", "balanced", "long-context", "vision"],
        "read_budget": True,
    }
    assert section["clients"]["tools"]["daily_usd"] == 1.0
    assert Client.key_env("bot") == "LLMSTACK_CLIENT_BOT_KEY"
    assert rendered["litellm_settings"]["callbacks"][0] == "llmstack_gateway.clients.client_access"
    assert not [f for f in run_checks(result.spec, TODAY) if f.is_error]


def test_the_catalog_flag_lets_the_master_key_ask_for_completions(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:gateway": {"master_key_completions": True}}
    result = ws.check()
    assert result.spec is not None
    rendered = yaml.safe_load(render_gateway_config(result.spec))
    assert rendered["llmstack_clients"]["master_key_completions"] is True


def test_no_bot_client_while_the_master_key_may_not_ask_for_completions(ws: StackWorkspace) -> None:
    del ws.catalog["clients"]["bot"]
    finding = one(ws.findings(), "client-missing-bot")
    assert finding.location.field == "clients"
    assert "the bot would call with the master key, which the gateway refuses" in finding.message
    assert "add clients.bot" in finding.fix
    ws.catalog["gateway"]["master_key_completions"] = True
    assert not only(ws.findings(), "client-missing-bot")


def test_an_admin_chat_whose_bot_cannot_read_the_budget_is_warned(ws: StackWorkspace) -> None:
    del ws.catalog["clients"]["bot"]["read_budget"]
    ws.config = {"llmstack:telegram": {"admin_chat_id": -100123}}
    finding = one(ws.findings(), "client-bot-cannot-read-budget")
    assert finding.severity is Severity.WARNING  # the stack works; only /spend answers with what to set
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "clients.bot.read_budget"
    assert finding.message == (
        "the stack has an admin chat (telegram.admin_chat_id), but clients.bot has no read_budget: the gateway "
        "refuses the bot's key on /budget (403), so /spend there shows no spend, only what to set"
    )
    assert finding.fix == (
        "set clients.bot.read_budget: true (in the catalog, or llmstack:clients.bot.read_budget in the stack's file)"
    )
    # without an admin chat there is no /spend to serve
    ws.config = {}
    assert not only(ws.findings(), "client-bot-cannot-read-budget")


def test_a_stack_turning_read_budget_off_is_pointed_at(ws: StackWorkspace) -> None:
    ws.config = {
        "llmstack:telegram": {"admin_chat_id": -100123},
        "llmstack:clients": {"bot": {"read_budget": False}},
    }
    finding = one(ws.findings(), "client-bot-cannot-read-budget")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:clients.bot.read_budget"


def test_the_shipped_bot_reads_the_budget_and_only_it_renders_the_flag(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:telegram": {"admin_chat_id": -100123}}
    result = ws.check()
    assert result.spec is not None
    assert not only(result.findings, "client-bot-cannot-read-budget")
    clients = yaml.safe_load(render_gateway_config(result.spec))["llmstack_clients"]["clients"]
    assert clients["bot"]["read_budget"] is True
    assert "read_budget" not in clients["tools"]


def test_a_read_budget_that_is_not_a_boolean_is_an_error(ws: StackWorkspace) -> None:
    ws.catalog["clients"]["tools"]["read_budget"] = "yes please"
    findings = ws.findings()
    errors = [f for f in findings if f.is_error and f.location.field == "clients.tools.read_budget"]
    assert errors, [f.format() for f in findings]


@pytest.mark.parametrize("name", RESERVED_CLIENT_NAMES)
def test_a_client_named_as_the_operator_is_refused(ws: StackWorkspace, name: str) -> None:
    ws.catalog["clients"][name] = ws.catalog["clients"].pop("tools")
    finding = one(ws.findings(), "client-reserved-name")
    assert finding.is_error
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == f"clients.{name}"
    assert f"a client may not be called '{name}'" in finding.message
    assert f"rename clients.{name}" in finding.fix
