"""The rendered config is checked by LiteLLM's own code: ConfigYAML, Router's valid args, a real Router."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pytest
import yaml

from infra import chains, costmap
from infra.catalog import discover_stacks, load_stack
from infra.checks.timing import KNOWN_ROUTING_STRATEGIES
from infra.render import render_gateway_config
from tests.conftest import STACKS
from tests.litellm.conftest import build_router

STACK_NAMES = discover_stacks(STACKS)


def rendered(stack: str) -> dict[str, Any]:
    spec = load_stack(stack, stacks_dir=STACKS).spec
    assert spec is not None
    config: dict[str, Any] = yaml.safe_load(render_gateway_config(spec))
    return config


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_config_parses_with_litellms_configyaml(stack: str, litellm_module: Any) -> None:
    from litellm.proxy._types import ConfigYAML

    ConfigYAML(**rendered(stack))


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_router_settings_use_only_keys_router_accepts(stack: str, litellm_module: Any) -> None:
    from litellm import Router

    valid = set(Router.get_valid_args())
    unknown = set(rendered(stack)["router_settings"]) - valid
    assert not unknown, f"the proxy would silently drop {unknown}"


@pytest.mark.parametrize("stack", STACK_NAMES)
def test_config_builds_a_router_and_every_group_and_route_is_priced(stack: str, litellm_module: Any) -> None:
    config = rendered(stack)
    router = build_router(config)
    names = [d["model_name"] for d in config["model_list"]] + list(
        config["router_settings"]["model_group_alias"]
    )

    async def ask(name: str) -> Any:
        return await router.acompletion(
            model=name, messages=[{"role": "user", "content": "hi"}], mock_response="hello there"
        )

    for name in names:
        response = asyncio.run(ask(name))
        cost = response._hidden_params.get("response_cost")
        assert cost is not None and cost > 0, f"{stack}/{name} would record $0"


def test_cost_map_reader_agrees_with_get_model_info() -> None:
    """Our import-free lookup resolves the same entries as ``litellm.get_model_info``.

    Asked in a fresh interpreter: building a Router registers each deployment's model_info into LiteLLM's
    process-wide map, so an in-process answer would depend on test order.
    """
    spec = load_stack("prod", stacks_dir=STACKS).spec
    assert spec is not None
    names = [
        f"{spec.catalog.providers[m.provider].resolved_kind(m.provider)}/{m.model}"
        for m in spec.catalog.models.values()
    ]
    program = (
        "import json, sys, litellm\n"
        "fields = ('input_cost_per_token', 'output_cost_per_token', 'max_input_tokens', 'max_output_tokens')\n"
        "print(json.dumps({n: {f: litellm.get_model_info(n)[f] for f in fields} for n in sys.argv[1:]}))\n"
    )
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = subprocess.run(
        [sys.executable, "-c", program, *names],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    for name in names:
        kind, _, model = name.partition("/")
        ours = costmap.lookup(kind, model)
        assert ours is not None, name
        assert (ours.input_cost_per_token, ours.output_cost_per_token) == (
            theirs[name]["input_cost_per_token"],
            theirs[name]["output_cost_per_token"],
        )
        assert (ours.max_input_tokens, ours.max_output_tokens) == (
            theirs[name]["max_input_tokens"],
            theirs[name]["max_output_tokens"],
        )


def test_unmapped_model_is_unknown_to_both(litellm_module: Any) -> None:
    assert costmap.lookup("gemini", "gemini-1.5-pro") is None
    with pytest.raises(Exception, match=r"(?i)not mapped|isn.t mapped|not found"):
        litellm_module.get_model_info("gemini/gemini-1.5-pro")


def test_modelled_retry_constants_match_litellm(litellm_module: Any) -> None:
    from litellm import constants

    assert constants.INITIAL_RETRY_DELAY == chains.INITIAL_RETRY_DELAY_S
    assert constants.MAX_RETRY_DELAY == chains.MAX_RETRY_DELAY_S
    assert constants.JITTER == chains.JITTER_S


def test_known_routing_strategies_match_litellm(litellm_module: Any) -> None:
    import typing

    from litellm.types.litellm_params import RoutingStrategyName

    assert set(typing.get_args(RoutingStrategyName)) == set(KNOWN_ROUTING_STRATEGIES)


#: hooks LiteLLM 1.108.7 calls only when the callback's own class defines them: ``"async_pre_call_hook" in
#: vars(_callback.__class__)`` and ``"async_post_call_response_headers_hook" in cls.__dict__`` (proxy/utils.py)
LEAF_CLASS_HOOKS = ("async_pre_call_hook", "async_post_call_response_headers_hook")


def test_every_rendered_callback_defines_its_hooks_where_litellm_looks(
    monkeypatch: pytest.MonkeyPatch, litellm_module: Any
) -> None:
    """A hook inherited from an intermediate class would be skipped silently: no budget, no header."""
    import importlib
    from pathlib import Path

    from litellm.integrations.custom_logger import CustomLogger

    monkeypatch.syspath_prepend(str(Path(STACKS).parent / "services" / "litellm-gateway"))
    spec = load_stack("prod", stacks_dir=STACKS).spec
    assert spec is not None
    callbacks = yaml.safe_load(render_gateway_config(spec))["litellm_settings"]["callbacks"]
    assert "llmstack_gateway.params.request_parameters" in callbacks
    for path in callbacks:
        module, _, name = path.rpartition(".")
        instance = getattr(importlib.import_module(module), name)
        assert isinstance(instance, CustomLogger), path
        for hook in LEAF_CLASS_HOOKS:
            if getattr(type(instance), hook) is not getattr(CustomLogger, hook):
                assert hook in vars(type(instance)), f"{path}: {hook} is inherited, LiteLLM would skip it"
    params = type(importlib.import_module("llmstack_gateway.params").request_parameters)
    assert {"async_pre_call_deployment_hook", "async_post_call_response_headers_hook"} <= set(vars(params))
