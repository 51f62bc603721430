"""`llmstack drill`: the real proxy against the simulator with providers down, compared with the catalog's promise.

Each group and route gets one request. The row says who served it, what LiteLLM tried (in order), how long it
took and what it cost; a group the catalog says survives that loss but did not answer fails the drill.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass

import httpx

from infra.catalog import StackSpec
from infra.catalog.models import Gateway
from infra.chains import all_chains
from infra.localgateway import LocalGateway
from infra.render import render_gateway_config
from infra.simulator import ProviderSimulator

SIMULATED_KEYS = {
    "ANTHROPIC_API_KEY": "simulated",
    "OPENAI_API_KEY": "simulated",
    "GEMINI_API_KEY": "simulated",
}


@dataclass(frozen=True)
class DrillRow:
    name: str
    predicted: str | None
    served: str | None
    status: int
    tried: tuple[str, ...]
    latency_ms: float
    cost_usd: float | None

    @property
    def ok(self) -> bool:
        """A group predicted to survive must be served by the predicted fallback."""
        return self.predicted is None or (self.status == 200 and self.served == self.predicted)


def single_process(spec: StackSpec) -> StackSpec:
    """The stack in one process with an in-memory budget: a drill tests routing, not the shared counter."""
    catalog = spec.catalog.model_copy(update={"gateway": Gateway(replicas=1, workers=1, shared_state="none")})
    return dataclasses.replace(spec, catalog=catalog)


def run_drill(spec: StackSpec, down: set[str], *, startup_timeout_s: float = 120) -> list[DrillRow]:
    spec = single_process(spec)
    chains = all_chains(spec.catalog)
    key = "sk-drill-" + secrets.token_hex(16)
    rows: list[DrillRow] = []
    with ProviderSimulator().running() as simulator:
        for provider in down:
            simulator.set(provider, "500")
        gateway = LocalGateway(
            render_gateway_config(spec, simulator.api_bases()),
            key,
            env=SIMULATED_KEYS,
            startup_timeout_s=startup_timeout_s,
        )
        with (
            gateway.running(),
            httpx.Client(timeout=120, headers={"Authorization": f"Bearer {key}"}) as client,
        ):
            prefix = f"{spec.name}-"
            for name, chain in chains.items():
                before = len(simulator.requests())
                started = time.perf_counter()
                response = client.post(
                    f"{gateway.url}/v1/chat/completions",
                    json={
                        "model": name,
                        "messages": [{"role": "user", "content": "drill"}],
                        "max_tokens": 16,
                    },
                )
                elapsed = (time.perf_counter() - started) * 1000
                model_id = response.headers.get("x-litellm-model-id", "")
                cost = response.headers.get("x-litellm-response-cost")
                predicted = chain.answerer(down)
                rows.append(
                    DrillRow(
                        name=name,
                        predicted=predicted.group if predicted else None,
                        served=model_id[len(prefix) :] if response.status_code == 200 and model_id else None,
                        status=response.status_code,
                        tried=tuple(
                            f"{r.provider}/{r.model}:{r.status}" for r in simulator.requests()[before:]
                        ),
                        latency_ms=elapsed,
                        cost_usd=float(cost) if cost else None,
                    )
                )
    return rows


def drill_table(rows: list[DrillRow], down: set[str]) -> str:
    lines = [f"drill: {', '.join(sorted(down)) or 'nothing'} down"]
    width = max(len(r.name) for r in rows)
    for row in rows:
        verdict = "ok" if row.ok else "FAILED"
        if row.predicted is None:
            verdict = "not expected to survive" if row.status != 200 else "ok (survived unexpectedly)"
        cost = f"${row.cost_usd:.6f}" if row.cost_usd is not None else "-"
        lines.append(
            f"  {row.name:<{width}}  served by {row.served or '-':<14} (predicted {row.predicted or 'none'}) "
            f"HTTP {row.status}  {row.latency_ms:7.1f} ms  {cost:>10}  tried {' -> '.join(row.tried)}  [{verdict}]"
        )
    return "\n".join(lines) + "\n"
