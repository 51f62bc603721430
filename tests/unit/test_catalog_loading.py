"""Structure errors: unknown keys, duplicates, types, unsafe names, stack overlays. Each names file and field."""

from __future__ import annotations

from infra.catalog import Severity, discover_stacks, load_stack
from tests.conftest import STACKS, StackWorkspace, one, only


def test_shipped_stacks_are_discovered() -> None:
    assert discover_stacks(STACKS) == ["dev", "prod", "staging"]


def test_shipped_stacks_are_valid_without_warnings() -> None:
    for stack in discover_stacks(STACKS):
        result = load_stack(stack, stacks_dir=STACKS)
        assert result.ok, [f.format() for f in result.findings]


def test_misspelt_key_is_an_error_with_a_suggestion(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["price_per_mtk"] = ws.catalog["models"]["gpt-4o"].pop("price_per_mtok")
    findings = ws.findings()
    unknown = one(findings, "unknown-key")
    assert unknown.location.file == "stacks/catalog.yaml"
    assert unknown.location.field == "models.gpt-4o.price_per_mtk"
    assert unknown.location.line is not None
    assert "did you mean 'price_per_mtok'" in unknown.message
    assert not ws.check().ok


def test_misspelt_top_level_section(ws: StackWorkspace) -> None:
    ws.catalog["fallback"] = ws.catalog.pop("fallbacks")
    unknown = one(ws.findings(), "unknown-key")
    assert unknown.location.field == "fallback"
    assert "did you mean 'fallbacks'" in unknown.message


def test_misspelt_router_key(ws: StackWorkspace) -> None:
    ws.catalog["router"]["max_fallback"] = 2
    unknown = one(ws.findings(), "unknown-key")
    assert unknown.location.field == "router.max_fallback"
    assert "did you mean 'max_fallbacks'" in unknown.message


def test_duplicate_yaml_key_is_an_error_naming_both_lines(ws: StackWorkspace) -> None:
    ws.write()
    text = (ws.stacks / "catalog.yaml").read_text()
    ws.catalog_text = text.replace("budget:\n", "budget:\n  daily_usd: 1000\n", 1)
    finding = one(ws.findings(), "duplicate-key")
    assert finding.location.field == "budget.daily_usd"
    assert "first written on line" in finding.message
    assert finding.location.line is not None


def test_wrong_type_names_the_expected_type(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gemini-pro"]["context_window"] = "large"
    finding = one(ws.findings(), "wrong-type")
    assert finding.location.field == "models.gemini-pro.context_window"
    assert "'large'" in finding.message
    assert "int" in finding.fix


def test_numbers_given_as_strings_are_not_coerced(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["daily_usd"] = "10"
    finding = one(ws.findings(), "wrong-type")
    assert finding.location.field == "budget.daily_usd"


def test_unsafe_group_name(ws: StackWorkspace) -> None:
    ws.catalog["models"]["Bad Name!"] = ws.catalog["models"]["gpt-4o"]
    finding = one(ws.findings(), "unsafe-name")
    assert "Bad Name!" in finding.message
    assert finding.location.field.startswith("models.Bad Name!")


def test_unknown_capability_lists_the_allowed_ones(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["capabilities"] = ["tools", "telepathy"]
    finding = one(ws.findings(), "invalid-value")
    assert finding.location.field == "models.gpt-4o.capabilities[1]"
    assert "'vision'" in finding.fix


def test_missing_price_is_reported_as_unpriced(ws: StackWorkspace) -> None:
    del ws.catalog["models"]["gemini-flash"]["price_per_mtok"]
    finding = one(ws.findings(), "unpriced-model")
    assert finding.location.field == "models.gemini-flash"
    assert "$0" in finding.message


def test_unknown_timezone(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["timezone"] = "Mars/Olympus"
    finding = one(ws.findings(), "invalid-value")
    assert "unknown time zone" in finding.message


def test_not_yaml_is_reported_with_its_line(ws: StackWorkspace) -> None:
    ws.catalog_text = "providers:\n  anthropic: [unclosed\n"
    finding = one(ws.findings(), "yaml-syntax")
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.line is not None


# --- stack overlays --------------------------------------------------------------------------------------


def test_stack_overrides_budget_and_gateway(ws: StackWorkspace) -> None:
    ws.config = {
        "llmstack:budget": {"daily_usd": 3},
        "llmstack:gateway": {"workers": 2, "shared_state": "redis"},
        "gcp:project": "someone-elses-namespace",
    }
    result = ws.check()
    assert result.ok
    assert result.spec is not None
    assert result.spec.catalog.budget.daily_usd == 3
    # untouched fields keep the catalog's values
    assert result.spec.catalog.budget.alert_thresholds == [0.5, 0.8, 1.0]
    assert result.spec.catalog.gateway.workers == 2


def test_error_in_an_override_points_at_the_stack_file(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:budget": {"daily_usd": "lots"}}
    finding = one(ws.findings(), "wrong-type")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:budget.daily_usd"
    assert finding.location.line == 3


def test_unknown_stack_setting_is_an_error_with_a_suggestion(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:budgets": {"daily_usd": 3}}
    finding = one(ws.findings(), "unknown-key")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert "did you mean 'budget'" in finding.message


def test_enabled_models_narrow_the_stack_and_drop_fallbacks(ws: StackWorkspace) -> None:
    ws.config = {
        "llmstack:enabled_models": ["claude-sonnet", "gemini-pro", "gemini-flash"],
        "llmstack:routes": {"vision": "gemini-pro"},
    }
    result = ws.check()
    assert result.ok, [f.format() for f in result.findings]
    assert result.spec is not None
    assert "gpt-4o" not in result.spec.catalog.models
    assert result.spec.disabled_models == ("gpt-4o",)
    assert "gpt-4o" not in result.spec.catalog.fallbacks


def test_enabling_an_unknown_group(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:enabled_models": ["claude-sonet"]}
    finding = one(ws.findings(), "unknown-group")
    assert finding.location.field == "config.llmstack:enabled_models[0]"
    assert "did you mean 'claude-sonnet'" in finding.message


def test_route_into_a_disabled_group_is_an_error(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:enabled_models": ["claude-sonnet", "gemini-pro", "gemini-flash"]}
    finding = one(ws.findings(), "route-disabled")
    assert "vision" in finding.message
    assert "llmstack:routes" in finding.fix


def test_dropped_fallback_is_visible_as_info(ws: StackWorkspace) -> None:
    ws.catalog["fallbacks"]["claude-sonnet"] = ["gpt-4o", "gemini-pro"]
    ws.config = {
        "llmstack:enabled_models": ["claude-sonnet", "gemini-pro", "gemini-flash"],
        "llmstack:routes": {"vision": "gemini-pro"},
    }
    notes = only(ws.findings(), "fallback-dropped")
    assert [n.severity for n in notes] == [Severity.INFO]
    assert "claude-sonnet -> gpt-4o" in notes[0].message


def test_deploy_settings_are_validated_in_the_stack_file(ws: StackWorkspace) -> None:
    ws.config = {"llmstack:telegram": {"default_rout": "simple"}}
    finding = one(ws.findings(), "unknown-key")
    assert finding.location.file == "stacks/Pulumi.test.yaml"
    assert finding.location.field == "config.llmstack:telegram.default_rout"
    assert "did you mean 'default_route'" in finding.message


def test_missing_stack_file() -> None:
    result = load_stack("nosuchstack", stacks_dir=STACKS)
    assert result.spec is None
    finding = one(result.findings, "missing-file")
    assert "dev" in finding.fix


# --- the catalog's own defaults: what a new stack would inherit ------------------------------------------

INHERITED = "the catalog's own default: this stack overrides it, but a stack that does not would inherit it"


def test_a_catalog_default_of_the_wrong_type_is_an_error_although_the_stack_overrides_it(
    ws: StackWorkspace,
) -> None:
    ws.catalog["budget"]["daily_usd"] = "ten"
    ws.config = {"llmstack:budget": {"daily_usd": 10}}
    result = ws.check()
    assert not result.ok and result.spec is None
    finding = one(result.findings, "wrong-type")
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "budget.daily_usd"
    assert finding.location.line is not None
    assert "'ten'" in finding.message and INHERITED in finding.message
    assert "float" in finding.fix


def test_a_negative_catalog_budget_is_an_error_although_the_stack_overrides_it(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["daily_usd"] = -5
    ws.config = {"llmstack:budget": {"daily_usd": 10}}
    result = ws.check()
    assert not result.ok
    finding = one(result.findings, "budget-invalid")
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "budget.daily_usd"
    assert finding.location.line is not None
    assert "-5" in finding.message and INHERITED in finding.message
    assert "set budget.daily_usd" in finding.fix


def test_a_catalog_router_default_every_stack_overrides_is_still_checked(ws: StackWorkspace) -> None:
    ws.catalog["router"]["routing_strategy"] = "usage-based-routing"
    ws.config = {"llmstack:router": {"routing_strategy": "simple-shuffle"}}
    finding = next(f for f in ws.findings() if f.location.field == "router.routing_strategy")
    assert finding.is_error and finding.location.file == "stacks/catalog.yaml"
    assert INHERITED in finding.message


def test_a_catalog_group_a_stack_does_not_enable_is_still_checked(ws: StackWorkspace) -> None:
    ws.catalog["models"]["gpt-4o"]["price_per_mtok"]["output"] = -1.0
    ws.config = {"llmstack:enabled_models": ["claude-sonnet", "gemini-pro", "gemini-flash"]}
    ws.config["llmstack:routes"] = {"vision": "gemini-pro"}
    finding = one(ws.findings(), "negative-price")
    assert finding.location.field == "models.gpt-4o.price_per_mtok.output"
    assert INHERITED in finding.message


def test_a_problem_in_the_merged_stack_and_the_catalog_is_reported_once(ws: StackWorkspace) -> None:
    ws.catalog["budget"]["daily_usd"] = -5
    ws.config = {"llmstack:gateway": {"workers": 2}}  # overlays a section, but not the budget
    finding = one(ws.findings(), "budget-invalid")
    assert INHERITED not in finding.message


def test_an_in_memory_counter_in_the_catalog_is_an_error_although_every_stack_says_redis(
    ws: StackWorkspace,
) -> None:
    ws.catalog["gateway"]["shared_state"] = "none"
    ws.config = {"llmstack:gateway": {"shared_state": "redis"}}
    finding = one(ws.findings(), "counter-not-durable")
    assert finding.location.file == "stacks/catalog.yaml"
    assert finding.location.field == "gateway.shared_state"
    assert INHERITED in finding.message
