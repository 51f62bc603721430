"""What the hook needs, read once per worker: the rendered config's ``llmstack_budget`` section and the env."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

CONFIG_ENV = "LLMSTACK_GATEWAY_CONFIG"
#: tests and drills move the budget clock by writing an ISO timestamp into this file
CLOCK_FILE_ENV = "LLMSTACK_BUDGET_CLOCK_FILE"


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
