"""What the benchmark scripts share: percentiles of latency samples and a concurrent chat-completion load.

A package (not a ``bench/*.py`` script) so the smoke test, which runs every script in ``bench/``, leaves it alone.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx


def percentile(samples: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``samples`` by rank, without interpolation."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of ``samples``."""
    return statistics.median(samples), percentile(samples, 0.99)


def chat_load(
    client: httpx.Client, url: str, key: str, body: Mapping[str, Any], requests: int, concurrency: int
) -> tuple[float, list[float]]:
    """``requests`` chat completions from ``concurrency`` threads: (requests per second, latencies in ms)."""

    def one(_: int) -> float:
        started = time.perf_counter()
        response = client.post(
            f"{url}/v1/chat/completions", json=dict(body), headers={"Authorization": f"Bearer {key}"}
        )
        response.raise_for_status()
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        latencies = list(pool.map(one, range(requests)))
    return requests / (time.perf_counter() - started), latencies


def print_figures(rows: list[tuple[str, str]]) -> None:
    """Each (name, figure) on its own line, the figures in one column."""
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
