"""``llmstack spend``: what a deployed (or local) gateway spent, from its ``GET /budget``.

The gateway URL and master key come from ``--url``/``--key``, else ``LLMSTACK_GATEWAY_URL``/``LITELLM_MASTER_KEY``,
else the stack's Pulumi outputs (``gateway_url``, ``gateway_master_key``; ``pulumi stack output --json
--show-secrets``). The key is sent only to that URL and never printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

URL_ENV = "LLMSTACK_GATEWAY_URL"
KEY_ENV = "LITELLM_MASTER_KEY"
BAR_WIDTH = 40
#: eighths of a block, so a bar shows spend below 1/40 of the cap
_EIGHTHS = " ▏▎▍▌▋▊▉"


class SpendError(Exception):
    """What went wrong, said so that the operator knows the next step (never containing the key)."""


@dataclass(frozen=True)
class Gateway:
    url: str
    key: str


def stack_outputs(stack: str, cwd: Path) -> dict[str, Any]:
    """The stack's outputs, secrets shown (the master key is one); raises SpendError when Pulumi cannot say."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise SpendError(
            f"the pulumi CLI is not installed, so the outputs of stack {stack!r} cannot be read: pass --url and "
            f"--key (or set {URL_ENV} and {KEY_ENV})"
        )
    try:
        completed = subprocess.run(
            [pulumi, "stack", "output", "--json", "--show-secrets", "--stack", stack],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise SpendError(f"`pulumi stack output --stack {stack}` did not answer in 60 s") from exc
    if completed.returncode != 0:
        first = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        raise SpendError(
            f"`pulumi stack output --stack {stack}` failed ({first}): pass --url and --key, or log in to the "
            "stack's Pulumi backend"
        )
    outputs: dict[str, Any] = json.loads(completed.stdout or "{}")
    return outputs


def resolve_gateway(
    stack: str, url: str | None, key: str | None, environ: Mapping[str, str], cwd: Path
) -> Gateway:
    url = url or environ.get(URL_ENV) or None
    key = key or environ.get(KEY_ENV) or None
    if url is None or key is None:
        outputs = stack_outputs(stack, cwd)
        url = url or outputs.get("gateway_url")
        key = key or outputs.get("gateway_master_key")
    if not url:
        raise SpendError(f"stack {stack!r} has no gateway_url output (is it deployed?): pass --url")
    if not key:
        raise SpendError(f"stack {stack!r} has no gateway_master_key output: pass --key or set {KEY_ENV}")
    return Gateway(str(url).rstrip("/"), str(key))


def fetch_budget(gateway: Gateway, days: int = 7, timeout_s: float = 15.0) -> dict[str, Any]:
    try:
        response = httpx.get(
            f"{gateway.url}/budget",
            params={"days": days},
            headers={"Authorization": f"Bearer {gateway.key}"},
            timeout=timeout_s,
        )
    except httpx.HTTPError as exc:
        raise SpendError(f"could not reach {gateway.url}/budget: {type(exc).__name__}") from exc
    if response.status_code == 401:
        raise SpendError(f"{gateway.url}/budget refused the key (401): is it this stack's master key?")
    if response.status_code != 200:
        raise SpendError(f"{gateway.url}/budget answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """A bar ``width`` characters wide, filled to ``fraction`` (0..1, clipped) in eighths of a character."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    if fraction > 0 and eighths == 0:
        eighths = 1  # a day that spent something never shows an empty bar
    full, rest = divmod(eighths, 8)
    text = "█" * full + (_EIGHTHS[rest] if rest else "")
    return text.ljust(width)


def _money(usd: float) -> str:
    # micro-dollars: one short request costs a few of them
    return f"${usd:,.6f}"


def _split_table(title: str, values: Mapping[str, float], spent: float) -> list[str]:
    if not values:
        return [f"{title}: nothing settled yet"]
    width = max(len(title), *(len(name) for name in values))
    lines = [f"{title.ljust(width)}  {'spent':>12}  {'share':>6}"]
    for name, usd in values.items():
        share = usd / spent if spent else 0.0
        lines.append(f"{name.ljust(width)}  {_money(usd):>12}  {share:6.1%}")
    return lines


def format_text(report: Mapping[str, Any]) -> str:
    cap = float(report["cap_usd"])
    spent, held = float(report["spent_usd"]), float(report["held_usd"])
    lines = [
        f"stack {report['stack']}: budget day {report['day']} ({report['timezone']}), resets {report['resets_at']}",
        f"spent {_money(spent)} of ${cap:,g} ({spent / cap:.1%}); held by requests in flight "
        f"{_money(held)}; left {_money(float(report['remaining_usd']))}; {report['requests']} request(s) today",
        "",
        *_split_table("group", report["by_group"], spent),
        "",
        *_split_table("provider", report["by_provider"], spent),
    ]
    if report.get("by_client"):
        lines += ["", *_split_table("client", report["by_client"], spent)]
    history = report.get("history") or []
    lines += ["", f"last {len(history)} day(s) against the ${cap:,g} cap (| is the cap)"]
    for day in history:
        usd = float(day["spent_usd"])
        lines.append(
            f"{day['day']} {bar(usd / cap)}| {_money(usd):>12} {usd / cap:6.1%}  {day['requests']} req"
        )
    return "\n".join(lines) + "\n"
