"""What the hook needs, read once per worker: the rendered config's ``llmstack_budget`` section and the env."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

CONFIG_ENV = "LLMSTACK_GATEWAY_CONFIG"
#: tests and drills move the budget clock by writing an ISO timestamp into this file
CLOCK_FILE_ENV = "LLMSTACK_BUDGET_CLOCK_FILE"
#: set to 1 only by ``llmstack local`` (infra/localgateway.py): the one case an in-memory counter is allowed
LOCAL_ENV = "LLMSTACK_LOCAL"
#: overrides the rendered ``llmstack_budget.hold_expiry_s`` (tests use a few seconds)
HOLD_EXPIRY_ENV = "BUDGET_HOLD_EXPIRY_S"
#: added to the worst-case request time: a hold older than both cannot belong to a running request
HOLD_EXPIRY_MARGIN_S = 60.0


@dataclass(frozen=True)
class GroupBudget:
    """Per model group or route: the prices a reservation assumes (the highest along its fallback chain)."""

    input_per_token: float
    output_per_token: float
    max_output_tokens: int


@dataclass(frozen=True)
class BudgetSettings:
    stack: str
    daily_usd: float
    alert_thresholds: tuple[float, ...]
    timezone: str
    allow_when_counter_unavailable: bool
    groups: dict[str, GroupBudget]
    shared_state: str
    alert_url: str | None
    alert_secret: str | None
    redis_url: str | None
    key_prefix: str
    #: a hold older than this was left by a killed worker and expires (streams keep theirs alive)
    hold_expiry_s: float = 3600.0
    #: the deployment prices by model id (``model_info.id``), to price a stream's usage
    deployment_prices: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def now(self) -> dt.datetime:
        clock_file = os.environ.get(CLOCK_FILE_ENV)
        if clock_file and Path(clock_file).exists():
            text = Path(clock_file).read_text().strip()
            if text:
                return dt.datetime.fromisoformat(text).astimezone(self.zone)
        return dt.datetime.now(self.zone)

    def day(self) -> tuple[str, dt.datetime]:
        """The budget day (its date in the budget time zone) and when it ends."""
        now = self.now()
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return now.date().isoformat(), (start + dt.timedelta(days=1)).replace(tzinfo=self.zone)


def _redis_url() -> str | None:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    host = os.environ.get("REDIS_HOST")
    if not host:
        return None
    password = os.environ.get("REDIS_PASSWORD")
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host}:{os.environ.get('REDIS_PORT', '6379')}/{os.environ.get('REDIS_DB', '0')}"


def worst_case_request_s(config: dict[str, Any]) -> float:
    """The longest a request can run.

    ``litellm_settings.request_timeout`` bounds a request end to end, every fallback included (the catalog's
    ``router.max_request_s``); without it, the longest per-attempt timeout on the first deployment and on every
    fallback. A stream that outlives it keeps its hold alive anyway (the iterator hook refreshes it).
    """
    end_to_end = float((config.get("litellm_settings") or {}).get("request_timeout") or 0)
    if end_to_end > 0:
        return end_to_end
    router = config.get("router_settings") or {}
    timeouts = [float(router.get("timeout") or 0)]
    timeouts += [
        float((d.get("litellm_params") or {}).get("timeout") or 0) for d in config.get("model_list") or []
    ]
    return max(max(timeouts), 60.0) * (1 + int(router.get("max_fallbacks") or 0))


def hold_expiry_s(config: dict[str, Any], section: dict[str, Any]) -> float:
    """``BUDGET_HOLD_EXPIRY_S``, else the rendered ``hold_expiry_s``, else the worst-case request time + margin."""
    value = os.environ.get(HOLD_EXPIRY_ENV) or section.get("hold_expiry_s")
    if value is None:
        return worst_case_request_s(config) + HOLD_EXPIRY_MARGIN_S
    expiry = float(value)
    if expiry <= 0:
        raise ValueError(f"the budget hold expiry must be positive, got {value!r}")
    return expiry


def _deployment_prices(config: dict[str, Any]) -> dict[str, tuple[float, float]]:
    prices: dict[str, tuple[float, float]] = {}
    for deployment in config.get("model_list") or []:
        info, params = deployment.get("model_info") or {}, deployment.get("litellm_params") or {}
        if info.get("id") is None:
            continue
        source = info if "input_cost_per_token" in info else params
        if "input_cost_per_token" in source and "output_cost_per_token" in source:
            prices[str(info["id"])] = (
                float(source["input_cost_per_token"]),
                float(source["output_cost_per_token"]),
            )
    return prices


def parse_settings(config: dict[str, Any]) -> BudgetSettings:
    section = config.get("llmstack_budget")
    if not isinstance(section, dict):
        raise ValueError(
            "the gateway config has no llmstack_budget section: render it with `llmstack render`"
        )
    groups = {
        name: GroupBudget(
            float(g["input_per_token"]), float(g["output_per_token"]), int(g["max_output_tokens"])
        )
        for name, g in section["groups"].items()
    }
    return BudgetSettings(
        stack=str(section["stack"]),
        daily_usd=float(section["daily_usd"]),
        alert_thresholds=tuple(float(t) for t in section["alert_thresholds"]),
        timezone=str(section["timezone"]),
        allow_when_counter_unavailable=bool(section["allow_when_counter_unavailable"]),
        groups=groups,
        shared_state=str(section["shared_state"]),
        alert_url=os.environ.get("BUDGET_ALERT_URL") or None,
        alert_secret=os.environ.get("BUDGET_ALERT_SECRET") or None,
        redis_url=_redis_url(),
        key_prefix=os.environ.get("BUDGET_KEY_PREFIX", f"llmstack:{section['stack']}"),
        hold_expiry_s=hold_expiry_s(config, section),
        deployment_prices=_deployment_prices(config),
    )


def memory_counter_refusal(shared_state: str, environ: Mapping[str, str]) -> str | None:
    """Why the gateway must not start with an in-memory counter, or None when it may.

    Every deployed stack keeps the day's spend in Redis, so a redeploy, a crash or a second replica never
    resets or splits it; only ``llmstack local`` (which sets LLMSTACK_LOCAL=1) may count in memory.
    """
    if shared_state == "redis":
        if environ.get("REDIS_URL") or environ.get("REDIS_HOST"):
            return None
        return "the rendered config keeps the budget counter in Redis, but neither REDIS_URL nor REDIS_HOST is set"
    if environ.get(LOCAL_ENV) == "1":
        return None
    return (
        f"the rendered config keeps the budget counter in memory (shared_state: {shared_state!r}), which a "
        "restart would reset: a deployed gateway needs shared_state: redis and REDIS_HOST/REDIS_URL. Only "
        f"`llmstack local` may run with an in-memory counter (it sets {LOCAL_ENV}=1)"
    )


@cache
def load_config() -> dict[str, Any]:
    path = os.environ.get(CONFIG_ENV)
    if not path:
        raise RuntimeError(f"{CONFIG_ENV} is not set: the entrypoint sets it to the rendered config's path")
    config: dict[str, Any] = yaml.safe_load(Path(path).read_text())
    return config


def load_settings() -> BudgetSettings:
    return parse_settings(load_config())


def load_routes() -> dict[str, str]:
    routes = load_config().get("llmstack_routes") or {}
    return {str(alias): str(group) for alias, group in routes.items()}
