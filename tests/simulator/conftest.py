"""The simulator run in-process on an ephemeral port, driven by the real OpenAI and Anthropic SDKs and httpx."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from infra.simulator import ProviderSimulator
from infra.simulator.server import LoggedRequest

#: the simulator's promise (infra/simulator/answer.py): 10 tokens of overhead plus one per 4 prompt characters in,
#: min(16, max_tokens) out per choice; tests recompute it here instead of importing it, so a change shows up
PROMPT = "x" * 40  # 10 + 40 // 4 = 20 input tokens
PROMPT_TOKENS = 20
TOKENS_PER_CHOICE = 16


@pytest.fixture
def simulator() -> Iterator[ProviderSimulator]:
    with ProviderSimulator().running() as sim:
        yield sim


def logged_when(
    simulator: ProviderSimulator, condition: Callable[[LoggedRequest], bool], timeout_s: float = 3.0
) -> LoggedRequest:
    """The last logged request once it satisfies ``condition`` (the server records a hang-up a moment later)."""
    deadline = time.monotonic() + timeout_s
    while True:
        requests = simulator.requests()
        if requests and condition(requests[-1]):
            return requests[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"the simulator never logged it: {requests[-1:] or 'no request'}")
        time.sleep(0.02)
