"""``llmstack local``: one stack's gateway in the foreground, its output on the console, until stopped.

The gateway prints what a deployed one prints to its log (each request's JSON record, LiteLLM's lines), here on
our console, as ``litellm`` itself does. Ctrl-C, SIGTERM (``kill <pid>``: a process started with ``&`` from a
script ignores SIGINT) and SIGHUP (its terminal closed) stop it: the gateway runs in its own session
(``LocalService``), so nothing else would.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from infra.catalog import StackSpec
from infra.localgateway import GatewayStartError, LocalGateway, port_in_use
from infra.render import provider_env_names, render_gateway_config, with_in_memory_counter
from infra.simulator import ProviderSimulator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A stop signal arrived (a KeyboardInterrupt, as Ctrl-C is): what was started is stopped on the way out."""


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """Each of STOP_SIGNALS raises Stopped once; a second one while stopping is ignored, so the stop completes.

    A signal ignored when we started (SIGINT under ``&`` in a script) stays ignored."""
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}

    def stop(signum: int, _frame: FrameType | None) -> None:
        for other in STOP_SIGNALS:
            signal.signal(other, signal.SIG_IGN)
        raise Stopped(signal.Signals(signum).name)

    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def err(message: str) -> None:
    print(f"llmstack local: {message}", file=sys.stderr, flush=True)


def serve(stack: str, spec: StackSpec, *, simulate: bool, port: int, build_dir: Path) -> int:
    """Exit 0 when stopped, 1 when the gateway cannot start, 2 when provider keys are missing."""
    spec = with_in_memory_counter(spec)  # the only place the counter lives in memory: a local run
    if not simulate:
        missing = [name for name in provider_env_names(spec) if not os.environ.get(name)]
        if missing:
            print(
                f"llmstack: error: set the provider keys first ({', '.join(missing)}), or use --simulate",
                file=sys.stderr,
            )
            return 2
    if port_in_use(port):
        # LiteLLM would move off a busy 4000 to a random port, or fail with a traceback on any other
        err(f"port {port} is in use: stop what listens there, or choose another port with --port N")
        return 1
    env: dict[str, str] = {}
    master_key = os.environ.get("LITELLM_MASTER_KEY") or "sk-local-" + secrets.token_hex(16)
    key_file = build_dir / "local" / f"{stack}.master-key"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.touch(mode=0o600)
    key_file.write_text(master_key)
    with stopped_by_signals(), contextlib.ExitStack() as running:
        try:
            api_bases = None
            if simulate:
                simulator = running.enter_context(ProviderSimulator().running())
                api_bases = simulator.api_bases()
                env.update(dict.fromkeys(provider_env_names(spec), "simulated"))
                print(f"provider simulator on {simulator.url}", flush=True)
            gateway = LocalGateway(
                render_gateway_config(spec, api_bases),
                master_key,
                workers=spec.catalog.gateway.workers,
                env=env,
                port=port,
                echo=True,
            )
            print(f"starting the gateway for {stack} on {gateway.url}; its log follows", flush=True)
            running.enter_context(gateway.running())
            print(
                f"gateway for {stack} on {gateway.url} (master key in {key_file}); each request's record "
                f"prints below; Ctrl-C or kill {os.getpid()} stops it",
                flush=True,
            )
            while (code := gateway.exit_code()) is None:
                time.sleep(1)
            err(f"the gateway exited with {code} (its log is above): stopping")
            return 1
        except GatewayStartError as exc:
            err(f"the gateway did not start: {exc}")
            return 1
        except Stopped as exc:
            print(f"stopping ({exc})", flush=True)
    return 0
