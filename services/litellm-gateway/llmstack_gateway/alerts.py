"""Budget threshold alerts: one POST per day and threshold to the stack's alert URL, across every process.

Each threshold (a fraction of the cap) is claimed in the counter before it is sent (``claim_alert``: exactly once
per day and threshold across workers and replicas) and unclaimed when the POST fails, so a later settlement
retries it. A refusal by the cap also sends the 100% alert, even when the spend itself has not reached it (what
stands between the request and the cap is what other requests hold). The payload carries figures, never a key:
the receiver checks ``X-LLMStack-Alert-Secret``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from llmstack_gateway.counter import BudgetCounter, to_nano
from llmstack_gateway.settings import BudgetSettings

log = logging.getLogger("llmstack.budget")


class BudgetAlerts:
    """Sends a request's alerts in the background, so a settlement or a refusal never waits for the receiver."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(
        self,
        settings: BudgetSettings,
        counter: BudgetCounter,
        day: str,
        resets: Any,
        *,
        spent_nano: int,
        refused: bool = False,
    ) -> None:
        if not settings.alert_url:
            return
        task = asyncio.get_running_loop().create_task(
            self._send(settings, counter, day, resets, spent_nano, refused)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _send(
        settings: BudgetSettings,
        counter: BudgetCounter,
        day: str,
        resets: Any,
        spent_nano: int,
        refused: bool,
    ) -> None:
        import httpx

        cap = to_nano(settings.daily_usd)
        for threshold in settings.alert_thresholds:
            if spent_nano < threshold * cap and not (refused and threshold >= 1.0):
                continue
            if not await counter.claim_alert(day, threshold):
                continue
            payload = {
                "event": "budget_threshold",
                "stack": settings.stack,
                "day": day,
                "threshold": threshold,
                "spent_usd": round(spent_nano / 1e9, 6),
                "cap_usd": settings.daily_usd,
                "timezone": settings.timezone,
                "resets_at": resets.isoformat(),
                "refused": refused,
            }
            try:
                async with httpx.AsyncClient(timeout=5) as client:
                    response = await client.post(
                        str(settings.alert_url),
                        json=payload,
                        headers={"X-LLMStack-Alert-Secret": settings.alert_secret or ""},
                    )
                response.raise_for_status()
            except Exception:
                log.exception("budget alert at %s was not delivered; it will be retried", threshold)
                await counter.unclaim_alert(day, threshold)
