"""Every check, fed its bad case: the finding's code, file, field, message and fix are asserted."""

from __future__ import annotations

import datetime as dt

from infra.catalog import Severity
from infra.checks import ALL_CHECKS
from tests.conftest import StackWorkspace, one, only

# --- references ------------------------------------------------------------------------------------------


def test_model_on_an_undeclared_provider(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["provider"] = "opena1"
    finding = one(ws.findings(), "unknown-provider")
    assert finding.location.field == "models.gpt-4o.provider"
    assert "did you mean 'openai'" in finding.message
    assert "providers.opena1" in finding.fix


def test_fallback_to_an_unknown_group(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["claude-sonnet"] = ["gemini-prp"]
    finding = one(ws.findings(), "unknown-group")
    assert finding.location.field == "fallbacks.claude-sonnet[0]"
    assert "did you mean 'gemini-pro'" in finding.message
    assert "skip it silently" in finding.message


def test_fallbacks_declared_for_an_unknown_group(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["claude-sonet"] = ["gemini-pro"]
    finding = one(ws.findings(), "unknown-group")
    assert finding.location.field == "fallbacks.claude-sonet"
    assert "did you mean 'claude-sonnet'" in finding.message


def test_route_to_an_unknown_group(ws: StackWorkspace) -> None:
    ws.catalog["routes"]["simple"] = "gemini-flsh"
    finding = one(ws.findings(), "unknown-group")
    assert finding.location.field == "routes.simple"
    assert "did you mean 'gemini-flash'" in finding.message


def test_self_fallback(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["gemini-pro"] = ["gemini-pro", "claude-sonnet"]
    finding = one(ws.findings(), "self-fallback")
    assert finding.location.field == "fallbacks.gemini-pro[0]"


def test_duplicate_fallback_target(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["gpt-4o"] = ["claude-sonnet", "claude-sonnet"]
    finding = one(ws.findings(), "duplicate-fallback")
    assert finding.location.field == "fallbacks.gpt-4o[1]"


def test_route_named_like_a_group(ws: StackWorkspace) -> None:
    ws.catalog["routes"]["gpt-4o"] = "claude-sonnet"
    finding = one(ws.findings(), "route-shadows-group")
    assert finding.location.field == "routes.gpt-4o"


# --- survival, capabilities, context ---------------------------------------------------------------------


def test_group_that_dies_with_its_provider(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["gemini-flash"] = ["gemini-pro"]
    ws.catalog["fallbacks"]["gemini-pro"] = ["gemini-flash"]
    findings = only(ws.findings(), "single-provider")
    assert {f.subject for f in findings} == {"gemini-flash", "gemini-pro"}
    flash = next(f for f in findings if f.subject == "gemini-flash")
    assert "does not survive the loss of gemini" in flash.message
    assert "gemini-flash -> gemini-pro" in flash.message
    assert "routes simple" in flash.message
    assert flash.location.field == "fallbacks.gemini-flash"
    assert "claude-sonnet" in flash.fix and "waivers.single-provider" in flash.fix


def test_group_without_fallbacks_does_not_survive(ws: StackWorkspace) -> None:
    del ws.catalog["fallbacks"]["claude-sonnet"]
    finding = next(f for f in ws.findings() if f.code == "single-provider" and f.subject == "claude-sonnet")
    assert finding.location.field == "models.claude-sonnet"
    assert "routes balanced" in finding.message


def test_single_provider_can_be_waived_with_a_reason(ws: StackWorkspace) -> None:
    del ws.catalog["fallbacks"]["claude-sonnet"]
    ws.catalog["models"]["claude-sonnet"]["waivers"] = {
        "single-provider": "benchmark group: must only ever be answered by Claude"
    }
    result = ws.check()
    waived = one(result.findings, "single-provider")
    assert waived.severity is Severity.INFO
    assert waived.message.startswith("waived:")
    assert "benchmark group" in waived.fix
    assert result.ok


def test_a_waiver_needs_a_real_reason(ws: StackWorkspace) -> None:
    ws.catalog["models"]["claude-sonnet"]["waivers"] = {"single-provider": "ok"}
    finding = one(ws.findings(), "invalid-value")
    assert finding.location.field == "models.claude-sonnet.waivers.single-provider"


def test_survival_respects_max_fallbacks_depth(ws: StackWorkspace) -> None:
    # gemini-flash -> gemini-pro -> claude-sonnet: with max_fallbacks 1 the walk stops at gemini-pro
    ws.catalog["fallbacks"]["gemini-flash"] = ["gemini-pro"]
    ws.catalog["router"]["max_fallbacks"] = 1
    findings = ws.findings()
    flash = next(f for f in only(findings, "single-provider") if f.subject == "gemini-flash")
    assert "gemini-flash -> gemini-pro" in flash.message
    assert any(f.subject == "gemini-flash" for f in only(findings, "fallback-unreached"))


def test_fallback_that_drops_a_capability(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-pro"]["capabilities"] = ["tools", "json"]
    findings = only(ws.findings(), "capability-loss")
    claude = next(f for f in findings if f.subject == "claude-sonnet")
    assert claude.location.field == "fallbacks.claude-sonnet[0]"
    assert "lacks vision" in claude.message
    # the transitive hop gpt-4o -> claude-sonnet -> gemini-pro is caught too, at the list that adds it
    gpt = next(f for f in findings if f.subject == "gpt-4o")
    assert "through claude-sonnet's fallbacks" in gpt.message


def test_capability_loss_can_be_waived(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-pro"]["capabilities"] = ["tools", "json"]
    for group in ("claude-sonnet", "gpt-4o", "gemini-flash"):
        ws.catalog["models"][group]["waivers"] = {
            "capability-loss": "vision requests are rare and may degrade"
        }
    result = ws.check()
    assert all(f.severity is Severity.INFO for f in only(result.findings, "capability-loss"))
    assert result.ok


def test_fallback_into_a_smaller_context_window_warns(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["claude-sonnet"] = ["gpt-4o", "gemini-pro"]
    result = ws.check()
    finding = one(result.findings, "context-shrink")
    assert finding.severity is Severity.WARNING
    assert finding.location.field == "fallbacks.claude-sonnet[0]"
    assert "1,000,000" in finding.message and "128,000" in finding.message
    assert result.ok  # a warning does not make the stack invalid


# --- pricing and lifecycle -------------------------------------------------------------------------------


def test_zero_price_is_unpriced(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-flash"]["price_per_mtok"] = {"input": 0, "output": 0}
    finding = one(ws.findings(), "unpriced-model")
    assert finding.location.field == "models.gemini-flash.price_per_mtok"


def test_negative_price(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["price_per_mtok"]["output"] = -10.0
    finding = one(ws.findings(), "negative-price")
    assert finding.location.field == "models.gpt-4o.price_per_mtok.output"


def test_infinite_price(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["price_per_mtok"]["input"] = float("inf")
    finding = one(ws.findings(), "invalid-price")
    assert finding.location.field == "models.gpt-4o.price_per_mtok.input"


def test_price_far_from_litellms_map_warns_with_both_prices(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["price_per_mtok"]["input"] = 5.0
    finding = one(ws.findings(), "price-drift")
    assert finding.severity is Severity.WARNING
    assert "$5/Mtok in the catalog" in finding.message
    assert "$2.5/Mtok in LiteLLM's map" in finding.message


def test_model_retired_per_litellms_map(ws: StackWorkspace) -> None:
    # claude-sonnet-4-5 is retired on 2026-11-30 in LiteLLM 1.108.7's map
    ws.catalog["models"]["claude-sonnet"]["model"] = "claude-sonnet-4-5"
    ws.catalog["models"]["claude-sonnet"]["context_window"] = 200000
    finding = one(ws.findings(), "deprecated-model")
    assert finding.location.field == "models.claude-sonnet.model"
    assert "2026-11-30" in finding.message and "LiteLLM's map" in finding.message


def test_deprecation_soon_warns(ws: StackWorkspace) -> None:
    ws.catalog["models"]["claude-sonnet"]["model"] = "claude-sonnet-4-5"
    ws.catalog["models"]["claude-sonnet"]["context_window"] = 200000
    finding = one(ws.findings(today=dt.date(2026, 11, 10)), "deprecation-soon")
    assert finding.severity is Severity.WARNING
    assert "20 days" in finding.message


def test_deprecation_date_in_the_catalog_wins(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-flash"]["deprecation_date"] = "2026-06-01"
    finding = one(ws.findings(), "deprecated-model")
    assert finding.location.field == "models.gemini-flash.deprecation_date"
    assert "per the catalog" in finding.message


def test_model_unknown_to_litellm_warns(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-flash"]["model"] = "gemini-9-ultra"
    result = ws.check()
    finding = one(result.findings, "unknown-model")
    assert finding.severity is Severity.WARNING
    assert "prices it from the catalog only" in finding.message
    assert result.ok


def test_catalog_limits_above_litellms_warn(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["max_output_tokens"] = 100_000
    finding = one(ws.findings(), "limits-drift")
    assert finding.location.field == "models.gpt-4o.max_output_tokens"
    assert "16,384" in finding.message


def test_claimed_capability_litellm_says_is_missing(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["capabilities"] = ["tools", "vision", "json", "reasoning"]
    finding = one(ws.findings(), "capability-unsupported")
    assert "reasoning" in finding.message


# --- budget ----------------------------------------------------------------------------------------------


def test_budget_must_be_positive(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["daily_usd"] = 0
    finding = one(ws.findings(), "budget-invalid")
    assert finding.location.field == "budget.daily_usd"


def test_budget_must_be_finite(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["daily_usd"] = float("inf")
    assert one(ws.findings(), "budget-invalid").location.field == "budget.daily_usd"


def test_budget_from_the_stack_file_is_reported_there(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:budget": {"daily_usd": -5}}
    finding = one(ws.findings(), "budget-invalid")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:budget.daily_usd"


def test_thresholds_must_increase(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["alert_thresholds"] = [0.5, 0.5, 1.0]
    finding = one(ws.findings(), "thresholds-invalid")
    assert "not strictly increasing" in finding.message


def test_thresholds_must_be_fractions(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["alert_thresholds"] = [0.5, 80]
    finding = one(ws.findings(), "thresholds-invalid")
    assert "outside (0, 1]" in finding.message


def test_zero_threshold_is_rejected(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["alert_thresholds"] = [0, 1.0]
    assert one(ws.findings(), "thresholds-invalid")


def test_budget_smaller_than_one_request_warns(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["daily_usd"] = 0.05
    findings = only(ws.findings(), "budget-below-request")
    assert findings and all(f.severity is Severity.WARNING for f in findings)


def test_an_in_memory_counter_in_a_stack_file_is_refused(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:gateway": {"shared_state": "none"}}
    finding = one(ws.findings(), "counter-not-durable")
    assert finding.severity is Severity.ERROR
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:gateway.shared_state"
    assert "every redeploy, crash or restart would start the day's spend at $0 again" in finding.message
    assert "remove gateway.shared_state" in finding.fix and "llmstack local" in finding.fix


def test_an_in_memory_counter_with_several_processes_names_the_multiplied_cap(ws: StackWorkspace) -> None:
    ws.catalog["gateway"] = {"replicas": 3, "workers": 1, "shared_state": "none"}
    finding = one(ws.findings(), "counter-not-durable")
    assert finding.location.field == "gateway.shared_state"
    assert finding.location.line is not None
    assert "each of its 3 processes would keep its own count (a cap of 3x)" in finding.message


def test_check_explains_where_the_counter_lives(ws: StackWorkspace) -> None:
    ws.config = {
        "llmstack:gateway": {"replicas": 2, "workers": 2},
        "llmstack:budget": {"timezone": "Europe/Berlin"},
    }
    finding = one(ws.findings(), "budget-counter")
    assert finding.severity is Severity.INFO
    assert finding.location.field == "config.llmstack:gateway"
    assert "lives in the stack's Redis (append-only persistence)" in finding.message
    assert "shared by the gateway's 4 process(es) (2 replica(s) x 2 worker(s))" in finding.message
    assert "a redeploy, crash or restart keeps the day's spend" in finding.message
    assert (
        "midnight Europe/Berlin" in finding.message and "refused while it is unreachable" in finding.message
    )


def test_check_explains_a_counter_that_fails_open(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["allow_when_counter_unavailable"] = True
    finding = one(ws.findings(), "budget-counter")
    assert "served uncounted while it is unreachable" in finding.message


# --- timing and routing ----------------------------------------------------------------------------------


def test_worst_case_time_above_the_limit(ws: StackWorkspace) -> None:
    ws.catalog["router"]["timeout_s"] = 60
    ws.catalog["router"]["max_request_s"] = 100
    findings = only(ws.findings(), "worst-case-time")
    gpt = next(f for f in findings if f.subject == "gpt-4o")
    assert gpt.location.field == "router.max_request_s"
    assert "180.0s" in gpt.message


def test_worst_case_counts_retries_and_retry_after(ws: StackWorkspace) -> None:
    # a terminal group retrying rate limits may wait for Retry-After (up to 60 s) before each retry
    ws.catalog["fallbacks"] = {"gpt-4o": ["claude-sonnet"], "gemini-flash": ["claude-sonnet"]}
    ws.catalog["models"]["claude-sonnet"]["waivers"] = {"single-provider": "terminal group in this test"}
    ws.catalog["models"]["gemini-pro"]["waivers"] = {"single-provider": "terminal group in this test"}
    ws.catalog["router"]["retries"]["rate_limit"] = 2
    findings = only(ws.findings(), "worst-case-time")
    claude = next(f for f in findings if f.subject == "claude-sonnet")
    assert "claude-sonnet 3x45s" in claude.message


def test_unknown_routing_strategy(ws: StackWorkspace) -> None:
    ws.catalog["router"]["routing_strategy"] = "simple-shufle"
    finding = one(ws.findings(), "routing-strategy-unknown")
    assert "did you mean 'simple-shuffle'" in finding.message


def test_strategy_that_disables_budgets(ws: StackWorkspace) -> None:
    ws.catalog["router"]["routing_strategy"] = "usage-based-routing"
    finding = one(ws.findings(), "routing-strategy-disables-budget")
    assert finding.location.field == "router.routing_strategy"
    assert "simple-shuffle" in finding.fix


# --- secrets ---------------------------------------------------------------------------------------------

# Built at run time so no credential-shaped string is ever committed.
FAKE_ANTHROPIC_KEY = "sk-" + "ant-" + "api03-" + "x" * 40
FAKE_BOT_TOKEN = "123456789" + ":" + "AA" + "b" * 33


def test_literal_api_key_in_the_catalog(ws: StackWorkspace) -> None:
    ws.catalog["providers"]["anthropic"]["api_key_secret"] = "ANTHROPIC-API"
    ws.write()
    text = (ws.stacks / "catalog.yaml").read_text()
    ws.catalog_text = text.replace("providers:\n", f"providers:\n  # key: {FAKE_ANTHROPIC_KEY}\n", 1)
    finding = one(ws.findings(), "literal-secret")
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.line == 2
    assert "Anthropic API key" in finding.message
    assert FAKE_ANTHROPIC_KEY not in finding.message and FAKE_ANTHROPIC_KEY not in finding.fix


def test_literal_bot_token_in_a_stack_file(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:telegram": {"api_base": f"https://api.telegram.org/bot{FAKE_BOT_TOKEN}"}}
    finding = one(ws.findings(), "literal-secret")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:telegram.api_base"
    assert FAKE_BOT_TOKEN not in finding.format()


def test_unencrypted_secret_value_in_a_stack_file(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:secrets": {"OPENAI-API": "plain-text-value", "GEMINI-API": {"secure": "v1:abc"}}}
    finding = one(ws.findings(), "literal-secret")
    assert finding.location.field == "config.llmstack:secrets.OPENAI-API"
    assert "plain text" in finding.message
    assert "pulumi config set --secret" in finding.fix
    assert "plain-text-value" not in finding.format()


def test_two_providers_sharing_one_secret(ws: StackWorkspace) -> None:
    ws.catalog["providers"]["openai"]["api_key_secret"] = "ANTHROPIC-API"
    finding = one(ws.findings(), "duplicate-secret")
    assert finding.location.field == "providers.openai.api_key_secret"


def test_every_check_is_registered() -> None:
    names = {c.__name__ for c in ALL_CHECKS}
    assert len(names) == len(ALL_CHECKS) >= 14


def test_unencrypted_railway_token_in_a_stack_file(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:railway_token": "0b9d6c52-not-encrypted"}
    finding = one(ws.findings(), "literal-secret")
    assert finding.location.field == "config.llmstack:railway_token"
    assert "0b9d6c52" not in finding.format()


def test_the_bots_default_route_must_exist(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:telegram": {"default_route": "balance"}}
    finding = one(ws.findings(), "unknown-route")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:telegram.default_route"
    assert "did you mean 'balanced'" in finding.message
