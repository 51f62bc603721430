"""Fixtures that build real catalogs and stack files on disk and load them through the real loader."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.catalog import Finding, LoadResult
from infra.checks import check_stack

ROOT = Path(__file__).resolve().parent.parent
STACKS = ROOT / "stacks"
#: the day the checks run on in tests, so deprecation findings do not change with the calendar
TODAY = dt.date(2026, 12, 1)


def shipped_catalog() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((STACKS / "catalog.yaml").read_text())
    return data


class StackWorkspace:
    """A throwaway ``stacks/`` directory with a catalog and one stack file ``Pulumi.test.yaml``."""

    def __init__(self, root: Path) -> None:
        (root / "Pulumi.yaml").write_text("name: llmstack\nruntime: python\nstackConfigDir: stacks\n")
        self.root = root
        self.stacks = root / "stacks"
        self.stacks.mkdir()
        self.catalog: dict[str, Any] = shipped_catalog()
        self.config: dict[str, Any] = {}
        self.catalog_text: str | None = None
        self.stack_text: str | None = None

    def write(self) -> None:
        catalog_text = self.catalog_text or yaml.safe_dump(self.catalog, sort_keys=False)
        (self.stacks / "catalog.yaml").write_text(catalog_text)
        stack_text = self.stack_text or yaml.safe_dump({"config": self.config}, sort_keys=False)
        (self.stacks / "Pulumi.test.yaml").write_text(stack_text)

    def check(self, today: dt.date = TODAY) -> LoadResult:
        self.write()
        return check_stack("test", today, stacks_dir=self.stacks)

    def findings(self, today: dt.date = TODAY) -> list[Finding]:
        return self.check(today).findings

    def edit(self, change: Callable[[dict[str, Any]], None]) -> StackWorkspace:
        change(self.catalog)
        return self


@pytest.fixture
def ws(tmp_path: Path) -> StackWorkspace:
    return StackWorkspace(tmp_path)


def only(findings: list[Finding], code: str) -> list[Finding]:
    return [f for f in findings if f.code == code]


def one(findings: list[Finding], code: str) -> Finding:
    matching = only(findings, code)
    assert len(matching) == 1, f"expected one {code}, got: " + "\n".join(f.format() for f in findings)
    return matching[0]


def deep(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
