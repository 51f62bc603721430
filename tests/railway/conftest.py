from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.railway.fake_railway import FakeRailway


@pytest.fixture
def railway(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRailway]:
    fake = FakeRailway()
    monkeypatch.setenv("RAILWAY_TOKEN", fake.token)
    monkeypatch.setenv("LLMSTACK_RAILWAY_RETRY_BASE_S", "0.01")
    with fake.running():
        yield fake
