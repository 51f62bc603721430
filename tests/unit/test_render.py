"""The rendered gateway config: golden per stack, injection-proof values, prices, no secrets."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from infra.catalog import StackSpec, discover_stacks, load_stack
from infra.render import render_gateway_config, yaml_value
from tests.conftest import STACKS, StackWorkspace

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def spec_of(stack: str) -> StackSpec:
    result = load_stack(stack, stacks_dir=STACKS)
    assert result.spec is not None
    return result.spec


@pytest.mark.parametrize("stack", discover_stacks(STACKS))
def test_rendered_config_matches_the_reviewed_golden(stack: str) -> None:
    """A pull request that edits the catalog shows its effect here. Regenerate: UPDATE_GOLDEN=1 make test."""
    rendered = render_gateway_config(spec_of(stack))
    golden = GOLDEN / f"{stack}.litellm-config.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert golden.exists(), f"no golden for {stack}: run UPDATE_GOLDEN=1 make test and review it"
    assert rendered == golden.read_text(), f"{golden.name} differs; review the change, then UPDATE_GOLDEN=1"


@pytest.mark.parametrize("stack", discover_stacks(STACKS))
def test_secrets_are_only_environment_references(stack: str) -> None:
    config = yaml.safe_load(render_gateway_config(spec_of(stack)))
    for deployment in config["model_list"]:
        assert deployment["litellm_params"]["api_key"].startswith("os.environ/")
    assert config["general_settings"]["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    for key in ("redis_host", "redis_port", "redis_password"):
        if key in config["router_settings"]:
            assert config["router_settings"][key].startswith("os.environ/")


@pytest.mark.parametrize("stack", discover_stacks(STACKS))
def test_every_model_carries_its_catalog_price(stack: str) -> None:
    spec = spec_of(stack)
    config = yaml.safe_load(render_gateway_config(spec))
    assert [d["model_name"] for d in config["model_list"]] == list(spec.catalog.models)
    for deployment in config["model_list"]:
        model = spec.catalog.models[deployment["model_name"]]
        params = deployment["litellm_params"]
        assert isinstance(params["input_cost_per_token"], float)
        assert math.isclose(params["input_cost_per_token"] * 1e6, model.price_per_mtok.input)
        assert math.isclose(params["output_cost_per_token"] * 1e6, model.price_per_mtok.output)
        assert deployment["model_info"]["input_cost_per_token"] == params["input_cost_per_token"]


def test_groups_with_fallbacks_fail_over_without_retrying(ws: StackWorkspace) -> None:
    ws.catalog["router"]["retries"] = {"rate_limit": 2, "server_error": 1, "timeout": 1}
    ws.catalog["router"]["max_request_s"] = 1000
    ws.catalog["fallbacks"] = {"gpt-4o": ["claude-sonnet"], "gemini-flash": ["claude-sonnet"]}
    for group in ("claude-sonnet", "gemini-pro"):
        ws.catalog["models"][group]["waivers"] = {"single-provider": "terminal group in this test"}
    result = ws.check()
    assert result.ok and result.spec is not None, [f.format() for f in result.findings]
    policies = yaml.safe_load(render_gateway_config(result.spec))["router_settings"][
        "model_group_retry_policy"
    ]
    assert policies["gpt-4o"]["RateLimitErrorRetries"] == 0
    assert policies["gpt-4o"]["InternalServerErrorRetries"] == 0
    assert policies["gpt-4o"]["TimeoutErrorRetries"] == 1
    assert policies["claude-sonnet"]["RateLimitErrorRetries"] == 2  # nowhere to fail over to: retry
    assert policies["claude-sonnet"]["ServiceUnavailableErrorRetries"] == 1


def test_routes_are_rendered_as_aliases() -> None:
    config = yaml.safe_load(render_gateway_config(spec_of("dev")))
    assert config["router_settings"]["model_group_alias"]["vision"] == "gemini-pro"


def test_local_render_overrides_api_bases_only_when_asked() -> None:
    spec = spec_of("dev")
    plain = yaml.safe_load(render_gateway_config(spec))
    assert all("api_base" not in d["litellm_params"] for d in plain["model_list"])
    local = yaml.safe_load(render_gateway_config(spec, {"gemini": "http://127.0.0.1:9/gemini"}))
    bases = {d["model_name"]: d["litellm_params"].get("api_base") for d in local["model_list"]}
    assert bases == {
        "claude-sonnet": None,
        "gemini-pro": "http://127.0.0.1:9/gemini",
        "gemini-flash": "http://127.0.0.1:9/gemini",
    }


HOSTILE = [
    "x\nmaster_key: pwned",
    "*anchor",
    "&anchor value",
    "# not a comment",
    "{a: b}",
    "[1, 2]",
    "yes",
    "null",
    "3e-06",
    "'single' \"double\" \\back",
    "tab\there",
    "ünïcødé",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_strings_cannot_inject_yaml(text: str) -> None:
    document = f"key: {yaml_value(text)}\nother: 1\n"
    assert yaml.safe_load(document) == {"key": text, "other": 1}


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip_through_pyyaml(value: float) -> None:
    # PyYAML reads 3e-06 as a string; the renderer must never emit that form
    assert yaml.safe_load(yaml_value(value)) == value


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_structure_round_trips(value: object) -> None:
    assert yaml.safe_load(f"v: {yaml_value(value)}") == {"v": value}


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        yaml_value(float("nan"))


@pytest.mark.parametrize("stack", discover_stacks(STACKS))
def test_auth_is_ours_and_never_lets_a_wrong_key_in(stack: str) -> None:
    general = yaml.safe_load(render_gateway_config(spec_of(stack)))["general_settings"]
    assert general["custom_auth"] == "llmstack_gateway.auth.user_api_key_auth"
    # with this set and no database, LiteLLM admits a wrong key (research/litellm-hooks.md)
    assert "allow_requests_on_db_unavailable" not in general
