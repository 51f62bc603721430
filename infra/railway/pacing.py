"""One request pace for every Railway call a run makes.

Pulumi serves every dynamic resource of a run from one provider process (``pulumi/dynamic/__main__.py``:
one ``grpc.server`` with a ``ThreadPoolExecutor(max_workers=4)`` and a ``_PROVIDER_CACHE``), and creates
independent resources in parallel. A limiter per resource would let four of them burst together, so the
limiter is process-wide. Railway's documented limits (railwayapp/docs ``integrations/api.md``, "Rate
limits"): 10 requests/s on Hobby, 50 on Pro, and 100/1,000/10,000 an hour on Free/Hobby/Pro. Cloudflare in
front of the API answers bursts above ~10/s with HTML 429 or "error code: 1015", which can block for hours
(terraform-community-providers/terraform-provider-railway PR #55, issues #43 and #63). The default pace stays
well under that (burst + one second of rate <= 9, so no one-second window sees more than 9);
``LLMSTACK_RAILWAY_RPS`` / ``LLMSTACK_RAILWAY_BURST`` change it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

DEFAULT_RATE_PER_S = 4.0
DEFAULT_BURST = 5


class RequestPace:
    """A token bucket: at most ``burst`` requests at once, then ``rate_per_s`` on average. Thread-safe."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("a request pace needs a positive rate and a burst of at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a turn; returns how long this call waited (seconds)."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate_per_s)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return waited
                delay = (1.0 - self._tokens) / self.rate_per_s
            self._sleep(delay)
            waited += delay


def _from_environment() -> RequestPace:
    rate = float(os.environ.get("LLMSTACK_RAILWAY_RPS", DEFAULT_RATE_PER_S))
    burst = int(os.environ.get("LLMSTACK_RAILWAY_BURST", DEFAULT_BURST))
    return RequestPace(rate, burst)


_shared: RequestPace | None = None
_shared_lock = threading.Lock()


def shared_pace() -> RequestPace:
    """The process-wide pace every ``RailwayClient`` uses unless a test gives it its own."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _from_environment()
        return _shared
