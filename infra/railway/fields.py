"""Each resource's fields, declared once: the rest (input, replace and required keys, the wrapper's props,
diff) is derived from the table.

Modelled on how the Terraform provider's schema declares each attribute with Required / Computed /
RequiresReplace beside it (terraform-community-providers/terraform-provider-railway
``internal/provider/resource_*.go``), so a field cannot be added in one list and forgotten in another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

DEFAULT_API_URL = "https://backboard.railway.com/graphql/v2"


@dataclass(frozen=True)
class Field:
    #: the key in the resource's properties (inputs and state)
    name: str
    #: the wrapper's keyword argument for an input; None for a computed output
    arg: str | None = None
    required: bool = False
    #: a change replaces the resource (delete first, then create) instead of updating it in place
    replace: bool = False
    #: wrapped in ``Output.secret`` on the way in, so the state keeps it encrypted
    secret: bool = False
    #: compared by ``diff``; False for knobs such as a timeout whose change must not redeploy anything
    compared: bool = True

    @property
    def computed(self) -> bool:
        return self.arg is None


@dataclass(frozen=True)
class ResourceFields:
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)) or "api_url" in names:
            raise ValueError(f"field names must be unique and must not redeclare api_url: {names}")

    @property
    def input_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.computed)

    @property
    def compared_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.computed and f.compared)

    @property
    def replace_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.replace)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.required)

    @property
    def computed_keys(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.computed)

    def props(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The wrapper's properties from its keyword arguments (pass ``locals()``, with a ``**scope`` of
        ``infra.railway.scope.ServiceScope`` merged in); computed ones start None."""
        props: dict[str, Any] = {}
        for f in self.fields:
            if f.computed:
                props[f.name] = None
                continue
            value = arguments.get(f.arg or f.name)
            props[f.name] = pulumi.Output.secret(value) if f.secret and value is not None else value
        props["api_url"] = arguments.get("api_url") or DEFAULT_API_URL
        return props

    def changed(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
        return [k for k in self.compared_keys if normal(olds.get(k)) != normal(news.get(k))]


def normal(value: Any) -> Any:
    """A comparable form: nested dicts and lists compare by content, not by key order."""
    return json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else value
