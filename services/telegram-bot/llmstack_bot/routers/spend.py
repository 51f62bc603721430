"""``/spend`` in the admin chat: the gateway's ``GET /budget`` (today against the cap, the split, the last days).

The bot reads it with its own client key, ``GATEWAY_API_KEY`` (issue 13: never the master key). The gateway
(``llmstack_gateway/budget_api.py``) answers that key when the catalog gives the bot ``clients.bot.read_budget:
true``, read-only and nothing more; without it the answer is 403 naming the setting, and ``/spend`` passes that on
to the admin. There is no separate spend key: the only other key ``/budget`` takes is the master key, which the
bot must not hold.
"""

from __future__ import annotations

import html
from typing import Any

import httpx
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmstack_bot.context import BotContext
from llmstack_bot.delivery import Replies

BAR_WIDTH = 20
DAYS = 7


#: what the admin sets when the gateway refuses the bot's key (the catalog client the program gives the bot's key to)
READ_BUDGET_FIX = (
    "set clients.bot.read_budget: true in the catalog (or llmstack:clients.bot.read_budget: true in the stack's "
    "file) and redeploy"
)


class SpendSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    spend_timeout_s: float = 10.0


class SpendUnavailable(Exception):  # noqa: N818 - a state the admin is told about
    pass


async def fetch_budget(
    base_url: str, key: str, *, days: int = DAYS, timeout_s: float = 10.0
) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(
                f"{base_url.rstrip('/')}/budget",
                params={"days": days},
                headers={"Authorization": f"Bearer {key}"},
            )
    except httpx.HTTPError as exc:
        raise SpendUnavailable(f"the gateway did not answer ({type(exc).__name__})") from exc
    if response.status_code == 403:
        # the gateway names the client its key belongs to and the setting (clients.operator_route_refusal)
        reason = _gateway_reason(response)
        fix = "" if "read_budget" in reason else f"; {READ_BUDGET_FIX}"
        raise SpendUnavailable(f"the gateway does not let the bot's key read /budget (403: {reason}){fix}")
    if response.status_code == 401:
        raise SpendUnavailable(
            "the gateway does not know the bot's key (401): GATEWAY_API_KEY must be the bot client's key "
            "(LLMSTACK_CLIENT_BOT_KEY)"
        )
    if response.status_code != 200:
        raise SpendUnavailable(f"the gateway answered {response.status_code}: {response.text[:200]}")
    body: dict[str, Any] = response.json()
    return body


def _gateway_reason(response: httpx.Response) -> str:
    """The refusal's message: ``{"error": {"message": ...}}`` as the gateway answers (budget_api.py, surface.py);
    ``{"detail": ...}`` as a gateway from before ``read_budget`` did; else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail or body)[:200]


def _bar(value: float, cap: float) -> str:
    filled = 0 if cap <= 0 else min(BAR_WIDTH, round(BAR_WIDTH * value / cap))
    return "█" * filled + "·" * (BAR_WIDTH - filled)


def _split(title: str, values: dict[str, float]) -> list[str]:
    if not values:
        return []
    return [f"{title}:", *(f"  {name:<16} ${amount:.4f}" for name, amount in values.items())]


def spend_text(body: dict[str, Any]) -> str:
    """The ``/budget`` answer as Telegram HTML: a ``<pre>`` block, every value escaped."""
    cap = float(body.get("cap_usd") or 0)
    spent, held = float(body.get("spent_usd") or 0), float(body.get("held_usd") or 0)
    share = f" ({spent / cap:.0%} of the cap)" if cap else ""
    lines = [
        f"{body.get('stack', '?')} on {body.get('day', '?')} ({body.get('timezone', 'UTC')})",
        f"spent ${spent:.4f} of ${cap:g}{share}, ${held:.4f} held by requests in flight",
        f"{body.get('requests', 0)} request(s); resets at {body.get('resets_at', '?')}",
        *_split("by group", body.get("by_group") or {}),
        *_split("by provider", body.get("by_provider") or {}),
        *_split("by client", body.get("by_client") or {}),
    ]
    history = body.get("history") or []
    if history:
        lines.append(f"last {len(history)} day(s) against the cap:")
        for day in reversed(history):
            amount = float(day.get("spent_usd") or 0)
            lines.append(f"  {day.get('day', '?')} {_bar(amount, cap)} ${amount:.4f}")
    return "<b>Spend</b>\n<pre>" + html.escape("\n".join(lines)) + "</pre>"


async def spend(message: Message, ctx: BotContext, replies: Replies) -> None:
    settings = ctx.settings
    if settings.admin_chat_id is None or message.chat.id != settings.admin_chat_id:
        await replies.send(message.chat.id, "/spend works in the admin chat only.")
        return
    try:
        body = await fetch_budget(
            settings.gateway_base_url, settings.gateway_api_key, timeout_s=SpendSettings().spend_timeout_s
        )
    except SpendUnavailable as exc:
        await replies.send(message.chat.id, f"Spend is not available: {exc}")
        return
    await replies.send(message.chat.id, spend_text(body), escaped=True)


def make_router() -> Router:
    router = Router(name="spend")
    router.message.register(spend, Command("spend", ignore_mention=True))
    return router
