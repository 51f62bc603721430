"""A first ``pulumi up`` of the dev stack's Railway resources against the fake Railway, as ratios of one run.
Not a test.

The resources run the way the engine runs them: each as soon as what it depends on is done, in parallel,
through one provider process (``python -m pulumi.dynamic`` over gRPC, four workers, as the engine starts
it) with the default request pace. The fake gives every deployment a build and a deploy phase
(``--build-s``, ``--deploy-s``), hides a new service's instance for ``--not-found-s``, and counts what
Cloudflare would refuse above 10 requests a second.

Printed: wall time over the shortest possible (the longest deployment chain: one build + deploy), API calls
per resource, peak calls in any second over Cloudflare's ~10/s, and the requests Cloudflare would refuse.

Usage: python bench/railway_up.py [--smoke] [--build-s S] [--deploy-s S] [--not-found-s S] [--poll-s S]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Railway and the stack in tests/railway, when run as a script

from infra.railway.pacing import DEFAULT_BURST, DEFAULT_RATE_PER_S  # noqa: E402
from tests.railway.dev_stack import Step, dev_apps, dev_steps  # noqa: E402
from tests.railway.fake_railway import FakeRailway  # noqa: E402
from tests.railway.provider_host import ProviderHost, provider_host  # noqa: E402

CLOUDFLARE_PER_S = 10


def parallel_up(host: ProviderHost, steps: list[Step]) -> dict[str, dict[str, Any]]:
    """Create every step as soon as its dependencies are created (the engine's default parallelism)."""
    outs: dict[str, dict[str, Any]] = {}
    pending = {step.key: step for step in steps}
    running: dict[concurrent.futures.Future[tuple[str, dict[str, Any]]], str] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        while pending or running:
            for key, step in list(pending.items()):
                if all(dep in outs for dep in step.after):
                    running[pool.submit(host.create, step.provider, step.kind, step.props(outs))] = key
                    del pending[key]
            done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                outs[running.pop(future)] = future.result()[1]
    return outs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny delays, for the test suite")
    parser.add_argument("--build-s", type=float, default=6.0)
    parser.add_argument("--deploy-s", type=float, default=3.0)
    parser.add_argument("--not-found-s", type=float, default=1.0)
    parser.add_argument("--poll-s", type=float, default=1.0)
    args = parser.parse_args()
    if args.smoke:
        args.build_s, args.deploy_s, args.not_found_s, args.poll_s = 0.2, 0.1, 0.1, 0.05
    fake = FakeRailway(
        build_s=args.build_s,
        deploy_s=args.deploy_s,
        not_found_window_s=args.not_found_s,
        rps_limit=CLOUDFLARE_PER_S,
    )
    pace = {"LLMSTACK_RAILWAY_RPS": str(DEFAULT_RATE_PER_S), "LLMSTACK_RAILWAY_BURST": str(DEFAULT_BURST)}
    lifecycle = args.build_s + args.deploy_s
    with fake.running(), provider_host(fake.token, call_timeout_s=120 + 4 * lifecycle, **pace) as host:
        steps = dev_steps(
            fake.url,
            dev_apps(),
            timeout_s=60 + 3 * (args.build_s + args.deploy_s),
            poll_interval_s=args.poll_s,
        )
        started = time.monotonic()
        outs = parallel_up(host, steps)
        wall = time.monotonic() - started
    statuses = sorted({o["status"] for k, o in outs.items() if k.endswith("-deployment")})
    calls = len(fake.state.calls)
    print(f"dev stack first up against the fake Railway ({len(steps)} resources, deployments {statuses})")
    print(
        f"  wall time over one deployment's build + deploy   {wall / lifecycle:6.2f}x  ({wall:.1f} s / {lifecycle:.1f} s)"
    )
    print(f"  API calls per resource                            {calls / len(steps):6.2f}x  ({calls} calls)")
    peak = fake.peak_per_second()
    print(
        f"  peak calls in one second over Cloudflare's ~10/s  {peak / CLOUDFLARE_PER_S:6.2f}x  ({peak} calls)"
    )
    print(
        f"  requests Cloudflare would refuse, per call        {fake.rate_limited / max(calls, 1):6.2f}x  ({fake.rate_limited})"
    )
    print(f"  deployments per service                           {len(fake.state.book.all) / 4:6.2f}x")
    return 0 if statuses == ["SUCCESS"] and fake.rate_limited == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
