from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.railway.fake_railway import FakeRailway

# the loopback fake needs no pacing; tests of the pace build their own (infra/railway/pacing.py)
os.environ.setdefault("LLMSTACK_RAILWAY_RPS", "1000")
os.environ.setdefault("LLMSTACK_RAILWAY_BURST", "1000")


@pytest.fixture
def railway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRailway]:
    fake = FakeRailway()
    monkeypatch.delenv("RAILWAY_TOKEN", raising=False)
    monkeypatch.setenv("RAILWAY_API_TOKEN", fake.token)
    monkeypatch.setenv("LLMSTACK_RAILWAY_RETRY_BASE_S", "0.01")
    with fake.running():
        yield fake
