"""What least privilege costs per request, and how much of the proxy it leaves exposed, as figures of one run.

Not a test. Two real LiteLLM proxies run `llmstack render`'s prod config against the provider simulator (one worker,
in-memory budget, the budget hook in both):
* with: our ``custom_auth`` (client keys looked up in constant time), the clients' pre-call hook (403 naming the
  route) and the surface guard (every route off the allow-list 404), called with the bot's client key;
* without: LiteLLM's own master-key check, no clients hook, no guard, called with the master key.
Both start side by side and are called in turn, so load drifts hit both alike. Reported: p50 and p99 of the
gateway with ÷ without, and the routes the proxy mounts (all of which answer without the guard) against the
(method, path) pairs that answer with it, as read from the running app's router (``GET /llmstack/routes``).

Usage: python bench/auth_bench.py [--requests N] [--smoke]
``--smoke`` is a tiny run (a few requests) that only proves the script works.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import yaml
from measure import percentiles

from infra.catalog import load_stack
from infra.catalog.models import Budget, Client
from infra.drill import SIMULATED_KEYS, single_process
from infra.localgateway import LocalGateway
from infra.render import CLIENTS_CALLBACK, render_gateway_config
from infra.simulator import ProviderSimulator

ROUTE = "balanced"
MESSAGES = [{"role": "user", "content": "benchmark"}]


def without_least_privilege(config_text: str) -> str:
    """The same config with LiteLLM's own master-key auth: no custom_auth, no clients hook (so no guard)."""
    config: dict[str, Any] = yaml.safe_load(config_text)
    config["general_settings"].pop("custom_auth")
    callbacks = config["litellm_settings"]["callbacks"]
    config["litellm_settings"]["callbacks"] = [c for c in callbacks if c != CLIENTS_CALLBACK]
    return yaml.safe_dump(config, sort_keys=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300, help="per gateway, called in turn")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that proves the script works")
    args = parser.parse_args()
    warmup = 10
    if args.smoke:
        args.requests, warmup = 5, 1

    loaded = load_stack("prod").spec
    assert loaded is not None
    spec = single_process(loaded)
    spec = dataclasses.replace(
        spec, catalog=spec.catalog.model_copy(update={"budget": Budget(daily_usd=1000.0)})
    )
    master = "sk-bench-" + secrets.token_hex(16)
    bot_key = "sk-bench-bot-" + secrets.token_hex(16)
    client_env = {Client.key_env(name): "sk-bench-" + secrets.token_hex(16) for name in spec.catalog.clients}
    client_env[Client.key_env("bot")] = bot_key
    with ProviderSimulator().running() as sim:
        config = render_gateway_config(spec, sim.api_bases(), master_key_completions=False)
        env = {**SIMULATED_KEYS, **client_env, "LITELLM_DISABLE_LAZY_ROUTES": "1"}
        guarded = LocalGateway(config, master, env=env)
        stock = LocalGateway(without_least_privilege(config), master, env=env)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(LocalGateway.start, (guarded, stock)))
        try:
            with httpx.Client(timeout=60) as client:
                inventory = client.get(
                    f"{guarded.url}/llmstack/routes",
                    headers={"Authorization": f"Bearer {master}"},
                    timeout=300,
                ).json()

                def call(gateway: LocalGateway, key: str) -> float:
                    started = time.perf_counter()
                    response = client.post(
                        f"{gateway.url}/v1/chat/completions",
                        json={"model": ROUTE, "messages": MESSAGES, "max_tokens": 16},
                        headers={"Authorization": f"Bearer {key}"},
                    )
                    elapsed = (time.perf_counter() - started) * 1000
                    response.raise_for_status()
                    return elapsed

                for _ in range(warmup):
                    call(guarded, bot_key)
                    call(stock, master)
                with_auth: list[float] = []
                without: list[float] = []
                for _ in range(args.requests):
                    with_auth.append(call(guarded, bot_key))
                    without.append(call(stock, master))
        finally:
            guarded.stop()
            stock.stop()
    (p50_with, p99_with), (p50_without, p99_without) = percentiles(with_auth), percentiles(without)
    exposed = {(m, r["path"]) for r in inventory["routes"] for m in r["exposed"]}
    print(
        f"one run{' (smoke: too few requests for the figures to mean anything)' if args.smoke else ''}; "
        f"{args.requests} chat completions per gateway, called in turn, loopback simulator"
    )
    print(f"  auth + clients hook + surface guard, p50 with / without   {p50_with / p50_without:.2f}×")
    print(f"  auth + clients hook + surface guard, p99 with / without   {p99_with / p99_without:.2f}×")
    print(
        f"  routes exposed after / before                             {len(exposed) / inventory['mounted']:.3f}× "
        f"({len(exposed)} (method, path) pairs answer of {inventory['mounted']} routes mounted)"
    )


if __name__ == "__main__":
    main()
