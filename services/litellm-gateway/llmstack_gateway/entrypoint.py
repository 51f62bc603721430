"""The container's entrypoint: the rendered config from ``LITELLM_CONFIG_YAML`` to a file, then the proxy.

Railway services built from an image cannot mount files, so the config travels as a variable.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from llmstack_gateway.settings import CONFIG_ENV, memory_counter_refusal


def prepare(environ: dict[str, str]) -> list[str]:
    """Write the config and return the proxy's command line; raises with a clear message on bad input."""
    text = environ.get("LITELLM_CONFIG_YAML", "")
    if not text.strip():
        raise SystemExit(
            "LITELLM_CONFIG_YAML is empty: set it to the output of `llmstack render --stack <name>`"
        )
    config = yaml.safe_load(text)
    if not isinstance(config, dict) or "model_list" not in config or "llmstack_budget" not in config:
        raise SystemExit(
            "LITELLM_CONFIG_YAML is not a config rendered by llmstack (no model_list/llmstack_budget)"
        )
    if not environ.get("LITELLM_MASTER_KEY"):
        raise SystemExit("LITELLM_MASTER_KEY is not set: the gateway refuses to start without a master key")
    budget = config["llmstack_budget"] if isinstance(config["llmstack_budget"], dict) else {}
    refusal = memory_counter_refusal(str(budget.get("shared_state")), environ)
    if refusal is not None:
        raise SystemExit(f"the gateway refuses to start: {refusal}")
    directory = Path(environ.get("LLMSTACK_CONFIG_DIR") or tempfile.mkdtemp(prefix="llmstack-gateway-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "litellm-config.yaml"
    path.write_text(text, encoding="utf-8")
    environ[CONFIG_ENV] = str(path)
    environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # uvicorn kills a worker that does not answer its supervisor's ping within 5 s; a new worker imports LiteLLM
    # first, which takes longer on a slow or busy CPU, so with --num_workers > 1 the workers were killed and
    # respawned forever (measured on a loaded 2-core box). LiteLLM passes this through (proxy_cli.py).
    environ.setdefault("TIMEOUT_WORKER_HEALTHCHECK", "60")
    # every worker writes its Prometheus series here and any worker's scrape merges them (metrics.py); LiteLLM's
    # proxy_cli.py wipes the directory at start, so a restart starts the counters at zero
    metrics_dir = directory / "prometheus"
    metrics_dir.mkdir(exist_ok=True)
    environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
    workers = str(max(1, int(environ.get("LITELLM_NUM_WORKERS", "1"))))
    port = environ.get("PORT", "4000")
    host = environ.get("LLMSTACK_BIND_HOST", "0.0.0.0")
    return ["litellm", "--config", str(path), "--host", host, "--port", port, "--num_workers", workers]


def main() -> None:
    environ = dict(os.environ)
    command = prepare(environ)
    # the `litellm` script installed next to this interpreter, else the first on PATH
    beside = Path(sys.executable).parent / "litellm"
    executable = str(beside) if beside.exists() else shutil.which("litellm")
    if executable is None:
        raise SystemExit("the litellm command is not installed (pip install 'litellm[proxy]')")
    os.execve(executable, command, environ)


if __name__ == "__main__":
    main()
