"""Tests that import LiteLLM itself (about 3 s once per session)."""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def build_router(config: dict[str, Any]) -> Any:
    """A real ``litellm.Router`` from a rendered config, the way the proxy builds one (env refs resolved)."""
    from litellm import Router

    settings = dict(config["router_settings"])
    for key in ("redis_host", "redis_port", "redis_password"):
        settings.pop(key, None)  # the proxy resolves these from the environment; no Redis needed to build
    model_list = []
    for deployment in config["model_list"]:
        params = dict(deployment["litellm_params"])
        params["api_key"] = "test-key-not-real"
        model_list.append({**deployment, "litellm_params": params})
    return Router(model_list=model_list, **settings)


@pytest.fixture(scope="session")
def litellm_module() -> Any:
    import litellm

    return litellm
