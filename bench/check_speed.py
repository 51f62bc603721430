"""How long `llmstack check` takes, as ratios to `python -c "import litellm"` measured in the same run.

Not a test: timings on a shared 2-core machine are noisy, so only ratios from one run are reported.
Usage: python bench/check_speed.py [--repeat N] [--smoke]

``--smoke`` (the test suite runs it so the script cannot rot): one run each of the prod stack and a generated
catalog of 10 groups.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LLMSTACK = [sys.executable, "-m", "infra.cli"]
MODELS = {
    "anthropic": ("claude-sonnet-4-6", 3.0, 15.0),
    "openai": ("gpt-4o", 2.5, 10.0),
    "gemini": ("gemini-2.5-flash", 0.3, 2.5),
}


def timed(command: list[str], repeat: int, cwd: Path = ROOT) -> float:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=env, check=False, capture_output=True, timeout=600)
        samples.append(time.perf_counter() - start)
        if done.returncode != 0:  # a benchmark of a failing command measures nothing useful
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout.decode()[-2000:]}")
    return statistics.median(samples)


def generated_catalog(groups: int) -> dict[str, object]:
    providers = list(MODELS)
    models: dict[str, object] = {}
    fallbacks: dict[str, list[str]] = {}
    for i in range(groups):
        provider = providers[i % 3]
        model, price_in, price_out = MODELS[provider]
        models[f"g{i}"] = {
            "provider": provider,
            "model": model,
            "price_per_mtok": {"input": price_in, "output": price_out},
            "context_window": 128000,
            "max_output_tokens": 4096,
            "capabilities": ["tools", "vision", "json"],
        }
        # triples of one group per provider, each falling back to the other two of its triple
        base = i - i % 3
        # (an incomplete last triple borrows the first triple's groups, which are on the same providers)
        fallbacks[f"g{i}"] = [
            f"g{base + (i + k) % 3}" if base + (i + k) % 3 < groups else f"g{(i + k) % 3}" for k in (1, 2)
        ]
    return {
        "providers": {p: {"api_key_secret": f"{p.upper()}-API"} for p in providers},
        "models": models,
        "fallbacks": fallbacks,
        # the routes a shipped catalog has; `balanced` is the bot's default route, which the checks require
        "routes": {"simple": "g0", "balanced": "g0"},
        # the bot's own client key, as the shipped catalog declares it (check client-missing-bot, issue 13)
        "clients": {"bot": {"routes": ["simple", "balanced"]}},
        "router": {"timeout_s": 10, "max_fallbacks": 3, "max_request_s": 300},
        "budget": {"daily_usd": 100},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--smoke", action="store_true", help="one quick run of two cases (for the test suite)"
    )
    args = parser.parse_args()
    repeat = 1 if args.smoke else args.repeat

    baseline = timed([sys.executable, "-c", "import litellm"], repeat)
    interpreter = timed([sys.executable, "-c", "pass"], repeat)
    rows: list[tuple[str, float]] = []
    for stack in ("prod",) if args.smoke else ("dev", "staging", "prod"):
        rows.append((f"check --stack {stack}", timed([*LLMSTACK, "check", "--stack", stack], repeat)))
    if not args.smoke:
        rows.append(("check (all 3 stacks)", timed([*LLMSTACK, "check"], repeat)))
    with tempfile.TemporaryDirectory() as tmp:
        for groups in (10,) if args.smoke else (10, 100, 1000):
            project = Path(tmp) / f"g{groups}"
            (project / "stacks").mkdir(parents=True)
            (project / "Pulumi.yaml").write_text("name: llmstack\nruntime: python\n")
            (project / "stacks" / "catalog.yaml").write_text(yaml.safe_dump(generated_catalog(groups)))
            (project / "stacks" / "Pulumi.bench.yaml").write_text("config: {}\n")
            rows.append(
                (f"check, generated catalog of {groups} groups", timed([*LLMSTACK, "check"], repeat, project))
            )

    print(f"median of {repeat} runs each; ratio = time / time of `python -c 'import litellm'`")
    print(f"  (python start-up alone: {interpreter / baseline:.2f}x)")
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds / baseline:6.2f}x")


if __name__ == "__main__":
    main()
