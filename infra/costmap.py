"""LiteLLM's bundled model cost map, read as data.

The checks need prices, context windows and deprecation dates for a few models. Importing ``litellm`` costs about
3 s and 200 MB, so we locate the installed package without importing it and read the JSON it ships (the same
file ``LITELLM_LOCAL_MODEL_COST_MAP=True`` makes the proxy use). A test checks that this lookup agrees with
``litellm.get_model_info`` for every catalog model.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COST_MAP_FILE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class CostMapEntry:
    key: str
    input_cost_per_token: float | None
    output_cost_per_token: float | None
    max_input_tokens: int | None
    max_output_tokens: int | None
    deprecation_date: dt.date | None
    supports: frozenset[str]


def cost_map_path() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / COST_MAP_FILE
    return path if path.exists() else None


@functools.cache
def load_cost_map() -> dict[str, Any] | None:
    path = cost_map_path()
    if path is None:
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data.pop("sample_spec", None)
    return data


_CAPABILITY_FLAGS = {
    "tools": "supports_function_calling",
    "vision": "supports_vision",
    "json": "supports_response_schema",
    "reasoning": "supports_reasoning",
    "pdf": "supports_pdf_input",
}


def capability_flag(capability: str) -> str | None:
    return _CAPABILITY_FLAGS.get(capability)


def lookup(provider_kind: str, model: str) -> CostMapEntry | None:
    """The cost-map entry LiteLLM resolves for ``<provider_kind>/<model>``, or None when it has none."""
    cost_map = load_cost_map()
    if cost_map is None:
        return None
    for key in (f"{provider_kind}/{model}", model):
        entry = cost_map.get(key)
        if isinstance(entry, dict) and entry.get("litellm_provider") == provider_kind:
            return _entry(key, entry)
    return None


def _entry(key: str, raw: dict[str, Any]) -> CostMapEntry:
    date = raw.get("deprecation_date")
    supports = frozenset(cap for cap, flag in _CAPABILITY_FLAGS.items() if raw.get(flag) is True)
    return CostMapEntry(
        key=key,
        input_cost_per_token=raw.get("input_cost_per_token"),
        output_cost_per_token=raw.get("output_cost_per_token"),
        max_input_tokens=raw.get("max_input_tokens"),
        max_output_tokens=raw.get("max_output_tokens"),
        deprecation_date=dt.date.fromisoformat(date) if isinstance(date, str) else None,
        supports=supports,
    )
