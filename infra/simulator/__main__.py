"""``python -m infra.simulator``: the provider simulator on its own, until Ctrl-C.

Point any client (an SDK, curl, a LiteLLM config) at the base URLs it prints; ``--fault anthropic=500`` or
``--fault gpt-4o=stall`` starts it with a provider or a model failing.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import get_args

from infra.simulator.server import Behavior, Mode, ProviderSimulator


def _fault(text: str) -> tuple[str, Mode]:
    target, _, mode = text.partition("=")
    modes = get_args(Mode)
    if not target or mode not in modes:
        raise argparse.ArgumentTypeError(
            f"expected TARGET=MODE with MODE one of {', '.join(modes)}; got {text!r}"
        )
    return target, mode  # type: ignore[return-value]  # checked against Mode's values just above


def parser() -> argparse.ArgumentParser:
    command = argparse.ArgumentParser(
        prog="python -m infra.simulator",
        description="Serve simulated OpenAI, Anthropic and Gemini APIs (plain and streamed) until Ctrl-C.",
    )
    command.add_argument("--port", type=int, default=0, help="port to listen on (default: any free one)")
    command.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    command.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="TARGET=MODE",
        help="a provider (openai, anthropic, gemini) or model id and how it fails: 429, 500, 503, hang, slow, stall, stream_error",
    )
    command.add_argument(
        "--delay-ms", type=float, default=0.0, help="wait before every healthy answer starts"
    )
    command.add_argument(
        "--chunk-delay-ms", type=float, default=0.0, help="wait before every delta of a healthy stream"
    )
    return command


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    simulator = ProviderSimulator(
        port=args.port,
        host=args.host,
        healthy_delay_ms=args.delay_ms,
        healthy_chunk_delay_ms=args.chunk_delay_ms,
    )
    for target, mode in args.fault:
        simulator.set(target, Behavior(mode=mode, delay_ms=1000 if mode == "slow" else 0.0))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)  # Ctrl-C: stop serving and return, no KeyboardInterrupt traceback
    signal.signal(signal.SIGTERM, on_signal)
    try:
        with simulator.running():
            print(f"provider simulator on {simulator.url} (Ctrl-C stops it)")
            for provider, base in simulator.api_bases().items():
                print(f"  {provider:<10} {base}")
            for target, mode in args.fault:
                print(f"  fault: {target} -> {mode}")
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    except OSError as error:  # the port is taken, the address is not ours
        print(f"cannot serve on {args.host}:{args.port}: {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"stopped; it answered {len(simulator.requests())} requests")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
