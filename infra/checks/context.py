"""What every check receives: the stack, its chains computed once, and the date the check runs on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from infra.catalog import StackSpec
from infra.chains import EffectiveChain, all_chains


@dataclass(frozen=True)
class CheckContext:
    spec: StackSpec
    today: dt.date
    chains: dict[str, EffectiveChain] = field(default_factory=dict)

    @classmethod
    def build(cls, spec: StackSpec, today: dt.date | None = None) -> CheckContext:
        return cls(spec, today or dt.datetime.now(dt.UTC).date(), all_chains(spec.catalog))

    def routes_of(self, group: str) -> list[str]:
        return [route for route, target in self.spec.catalog.routes.items() if target == group]
