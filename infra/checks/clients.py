"""Clients of the gateway: each may ask only for routes and groups that exist, their shares fit the cap, and the
bot may read the budget its admin chat's ``/spend`` shows.

Unknown keys under ``clients:`` are refused by the typed model (``extra="forbid"``) with a "did you mean".
"""

from __future__ import annotations

import difflib
import math

from infra.catalog import Finding, Severity
from infra.checks.context import CheckContext

#: names the gateway gives spend no client made (services/litellm-gateway/llmstack_gateway/counter.py: OPERATOR_NAME
#: for the master key, UNATTRIBUTED as older totals stored it): a client so named would be counted as the operator
RESERVED_CLIENT_NAMES = ("operator", "unattributed")


def check_clients(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    names = [*catalog.routes, *catalog.models]
    out: list[Finding] = []
    for client_name, client in catalog.clients.items():
        if client_name in RESERVED_CLIENT_NAMES:
            out.append(
                Finding(
                    Severity.ERROR,
                    "client-reserved-name",
                    spec.locate("clients", client_name),
                    f"a client may not be called '{client_name}': the gateway's records and /budget name the master "
                    "key's spend so, and this client's would be counted as the operator's",
                    f"rename clients.{client_name} (its key variable and secret follow the name)",
                )
            )
        if not client.routes:
            out.append(
                Finding(
                    Severity.ERROR,
                    "client-no-routes",
                    spec.locate("clients", client_name, "routes"),
                    f"client '{client_name}' may use no route, so its key could only be refused",
                    f"list the routes or groups it needs under clients.{client_name}.routes, e.g. "
                    f"[{', '.join(list(catalog.routes)[:2]) or 'balanced'}], or remove the client",
                )
            )
        for index, name in enumerate(client.routes):
            if name in names:
                continue
            match = difflib.get_close_matches(name, names, n=1)
            disabled = name in spec.disabled_models
            out.append(
                Finding(
                    Severity.ERROR,
                    "client-unknown-route",
                    spec.locate("clients", client_name, "routes", index),
                    f"client '{client_name}' is allowed '{name}', which is "
                    + ("a group this stack does not enable" if disabled else "neither a route nor a group")
                    + (f" (did you mean '{match[0]}'?)" if match and not disabled else ""),
                    f"use one of: {', '.join(names)}",
                )
            )
        share = client.daily_usd
        if share is not None and (not math.isfinite(share) or share <= 0):
            out.append(
                Finding(
                    Severity.ERROR,
                    "client-share-invalid",
                    spec.locate("clients", client_name, "daily_usd"),
                    f"client '{client_name}' has a daily share of {share}; a share is a positive number of USD",
                    f"set clients.{client_name}.daily_usd to at most budget.daily_usd "
                    f"(${catalog.budget.daily_usd:g}), or remove it to share the whole cap",
                )
            )
        rate = client.requests_per_minute
        if rate is not None and rate <= 0:
            out.append(
                Finding(
                    Severity.ERROR,
                    "client-rate-invalid",
                    spec.locate("clients", client_name, "requests_per_minute"),
                    f"client '{client_name}' has requests_per_minute {rate}; a rate limit is a positive whole "
                    "number of requests, and 0 or less would refuse every call",
                    f"set clients.{client_name}.requests_per_minute to a positive number (e.g. 60), or remove it "
                    "for no limit",
                )
            )
    out.extend(_bot_default_route(ctx))
    out.extend(_bot_spend(ctx))
    shares = {n: c.daily_usd for n, c in catalog.clients.items() if c.daily_usd is not None}
    total = sum(s for s in shares.values() if math.isfinite(s) and s > 0)
    cap = catalog.budget.daily_usd
    if shares and math.isfinite(cap) and total > cap + 1e-9:
        first = next(iter(shares))
        listed = ", ".join(f"{n} ${s:g}" for n, s in shares.items())
        out.append(
            Finding(
                Severity.ERROR,
                "client-shares-exceed-cap",
                spec.locate("clients", first, "daily_usd"),
                f"the clients' daily shares add up to ${total:g} ({listed}), more than the stack's cap "
                f"budget.daily_usd of ${cap:g}: a share could never be reached",
                "lower the shares so they add up to at most budget.daily_usd, or raise budget.daily_usd",
            )
        )
    return out


#: the client the Telegram bot calls as (its key is the bot's GATEWAY_API_KEY)
BOT_CLIENT = "bot"


def _bot_default_route(ctx: CheckContext) -> list[Finding]:
    """The bot asks for its default route on every turn: a bot client without it would get 403 for each."""
    spec = ctx.spec
    bot = spec.catalog.clients.get(BOT_CLIENT)
    route = spec.deploy.telegram.default_route
    if bot is None:
        if spec.catalog.gateway.master_key_completions:
            return []
        return [
            Finding(
                Severity.ERROR,
                "client-missing-bot",
                spec.locate("clients"),
                "the catalog declares no 'bot' client, so the bot would call with the master key, which the "
                "gateway refuses for completions (gateway.master_key_completions is false)",
                f"add clients.bot with the bot's routes, e.g. routes: [{route}]",
            )
        ]
    if route in bot.routes:
        return []
    return [
        Finding(
            Severity.ERROR,
            "client-missing-bot-route",
            spec.locate("clients", BOT_CLIENT, "routes"),
            f"the bot's default route '{route}' (telegram.default_route) is not among clients.bot.routes, "
            "so every turn would be refused with 403",
            f"add '{route}' to clients.bot.routes",
        )
    ]


def _bot_spend(ctx: CheckContext) -> list[Finding]:
    """A stack with an admin chat offers ``/spend`` there; the bot reads it from the gateway's ``GET /budget`` with
    its own key, which the gateway refuses (403) unless the bot client has ``read_budget``. The stack still works,
    so a warning: the admin chat gets alerts, only ``/spend`` answers with what to set."""
    spec = ctx.spec
    bot = spec.catalog.clients.get(BOT_CLIENT)
    if bot is None or bot.read_budget or spec.deploy.telegram.admin_chat_id is None:
        return []
    return [
        Finding(
            Severity.WARNING,
            "client-bot-cannot-read-budget",
            spec.locate("clients", BOT_CLIENT, "read_budget"),
            "the stack has an admin chat (telegram.admin_chat_id), but clients.bot has no read_budget: the "
            "gateway refuses the bot's key on /budget (403), so /spend there shows no spend, only what to set",
            "set clients.bot.read_budget: true (in the catalog, or llmstack:clients.bot.read_budget in the stack's "
            "file)",
        )
    ]
