"""Who is calling: each client's key, its routes and its budget share, from the rendered ``llmstack_clients``.

A key is looked up by its SHA-256 digest, compared with every known digest with ``hmac.compare_digest`` and no
early exit, so the answer's time depends on the number of clients, never on how much of a key was right. No
database: the keys come from the environment (``os.environ/LLMSTACK_CLIENT_<NAME>_KEY`` in the config, put there
from Secret Manager at deploy time), so rotating one is a new secret version and a redeploy.

The pre-call hook here runs first among the callbacks (before route aliases are resolved): a client may ask only
for the names its catalog entry lists (403 naming the route otherwise), and the master key, the operators' key,
asks for completions only when the catalog's ``gateway.master_key_completions`` says so.

The operator routes (``surface.OPERATOR_PATHS``) take the master key; ``operator_route_refusal`` says who else may
read them: a client with ``read_budget`` may read ``GET /budget`` and nothing more (the bot's ``/spend``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from llmstack_gateway.client_rate import (
    MemoryRateWindow,
    RateLimited,
    RateWindow,
    RedisRateWindow,
    rate_refusal,
)
from llmstack_gateway.counter import OPERATOR_NAME, UNATTRIBUTED, ClientShare, Reservation, to_nano
from llmstack_gateway.settings import CONFIG_ENV, BudgetSettings, load_config, load_settings
from llmstack_gateway.surface import install_surface
from llmstack_gateway.worst_case import never_fits

log = logging.getLogger("llmstack.clients")

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
#: what auth.py writes into ``UserAPIKeyAuth.metadata``, and the hooks read back
CLIENT_FIELD = "llmstack_client"
OPERATOR_FIELD = "llmstack_operator"
_ENV_PREFIX = "os.environ/"


@dataclass(frozen=True)
class Client:
    name: str
    #: the route aliases and groups this client may ask for, as the catalog lists them
    routes: tuple[str, ...]
    #: its hard share of the day's cap, in USD; None shares the whole cap
    daily_usd: float | None = None
    #: its requests in any 60 seconds (client_rate.py); None is no limit
    requests_per_minute: int | None = None
    #: may read ``GET /budget`` with its own key (the catalog's ``clients.<name>.read_budget``); no other
    #: operator route
    read_budget: bool = False

    def may_use(self, model: str) -> bool:
        return model in self.routes


#: the caller holding the master key, named as the day's totals name its spend (counter.OPERATOR_NAME)
OPERATOR = Client(OPERATOR_NAME, ())


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def presented_key(api_key: str | None) -> str:
    """The key as LiteLLM hands it over: with or without ``Bearer``, surrounding blanks removed."""
    key = (api_key or "").strip()
    return key[7:].strip() if key.lower().startswith("bearer ") else key


class ClientRegistry:
    def __init__(
        self,
        clients: Mapping[str, tuple[Client, str]],
        master_key: str,
        *,
        master_key_completions: bool,
    ) -> None:
        self.clients = {name: client for name, (client, _) in clients.items()}
        self.master_key_completions = master_key_completions
        self._digests: list[tuple[bytes, Client]] = []
        seen: dict[bytes, str] = {}
        for name, (client, key) in clients.items():
            if not key:
                continue  # a client whose variable is empty cannot call (parse_registry said so); the others can
            digest = _digest(key)
            if digest in seen or (master_key and hmac.compare_digest(key.encode(), master_key.encode())):
                other = seen.get(digest, "the master key")
                raise ValueError(
                    f"client {name!r} has the same key as {other}: every client needs its own key"
                )
            seen[digest] = name
            self._digests.append((digest, client))
        if master_key:
            self._digests.append((_digest(master_key), OPERATOR))

    def identify(self, key: str) -> Client | None:
        """The client (or OPERATOR) this key belongs to, None for an unknown or empty key; constant time."""
        if not key:
            return None
        digest = _digest(key)
        found: Client | None = None
        for known, client in self._digests:
            if hmac.compare_digest(digest, known):
                found = client
        return found


def parse_registry(config: Mapping[str, Any], environ: Mapping[str, str]) -> ClientRegistry:
    """The registry from a rendered config. A config without ``llmstack_clients`` predates clients: the master key
    is then the only key, and it keeps asking for completions as it did."""
    master = environ.get(MASTER_KEY_ENV, "")
    section = config.get("llmstack_clients")
    if not isinstance(section, Mapping):
        return ClientRegistry({}, master, master_key_completions=True)
    clients: dict[str, tuple[Client, str]] = {}
    for name, entry in (section.get("clients") or {}).items():
        if str(name) in (OPERATOR_NAME, UNATTRIBUTED):
            # `llmstack check` refuses it in the catalog; a hand-edited config would mix its spend with the master key's
            raise ValueError(
                f"client {name!r}: the name is the operator's in records and /budget; rename the client"
            )
        reference = str(entry.get("key") or "")
        if not reference.startswith(_ENV_PREFIX):
            # a key written into the config would be a secret in plain text: refuse to start rather than use it
            raise ValueError(f"client {name!r}: key must be os.environ/<VARIABLE>, never a value")
        share, rate = entry.get("daily_usd"), entry.get("requests_per_minute")
        if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate <= 0):
            # `llmstack check` refuses it in the catalog; a hand-edited config would refuse every call, or none
            raise ValueError(
                f"client {name!r}: requests_per_minute must be a positive whole number, got {rate!r}"
            )
        read_budget = entry.get("read_budget", False)
        if not isinstance(read_budget, bool):
            # the catalog types it; a hand-edited "false" (a string, so truthy) must not open /budget
            raise ValueError(f"client {name!r}: read_budget must be true or false, got {read_budget!r}")
        routes = tuple(str(r) for r in entry.get("routes") or ())
        client = Client(
            str(name), routes, share and float(share), None if rate is None else int(rate), read_budget
        )
        variable = reference[len(_ENV_PREFIX) :]
        if not environ.get(variable):
            log.error(
                "client %r has no key: %s is unset or empty; every call with its key is refused",
                str(name),
                variable,  # the config's own reference, so a hand-renamed variable is named as it is
            )
        clients[str(name)] = (client, environ.get(variable, ""))
    return ClientRegistry(clients, master, master_key_completions=bool(section.get("master_key_completions")))


_registries: dict[tuple[str, str], ClientRegistry] = {}


def registry() -> ClientRegistry:
    """This worker's registry, read once from the rendered config and the environment (per config and master key,
    which never change inside the proxy; unit tests set them per test). No config: the master key alone."""
    path, master = os.environ.get(CONFIG_ENV, ""), os.environ.get(MASTER_KEY_ENV, "")
    found = _registries.get((path, master))
    if found is None:
        found = _registries[(path, master)] = parse_registry(load_config() if path else {}, os.environ)
    return found


def caller_of(user_api_key_dict: Any) -> Client | None:
    """The client auth.py identified for this request, from the ``UserAPIKeyAuth`` LiteLLM passes to hooks."""
    metadata = getattr(user_api_key_dict, "metadata", None) or {}
    if metadata.get(OPERATOR_FIELD):
        return OPERATOR
    name = metadata.get(CLIENT_FIELD)
    return registry().clients.get(str(name)) if name else None


def client_share(user_api_key_dict: Any) -> ClientShare | None:
    """What the budget reserves against besides the stack's cap: the calling client's share (the operator: none)."""
    caller = caller_of(user_api_key_dict)
    if caller is None or caller is OPERATOR:
        return None
    return ClientShare(caller.name, None if caller.daily_usd is None else to_nano(caller.daily_usd))


def client_refusal(
    share: ClientShare,
    reservation: Reservation,
    amount: int,
    resets: datetime,
    settings: BudgetSettings,
    limit_field: str,
) -> dict[str, Any]:
    """The 429 for a client at its share: its figures, while other clients go on within the stack's cap."""
    cap = (share.cap or 0) / 1e9
    if amount > (share.cap or 0):
        # waiting for the reset cannot help: say what can
        error = f"client {share.name}'s share of ${cap:g} cannot cover this request {never_fits(amount, limit_field)}"
    else:
        error = (
            f"client {share.name}'s share of ${cap:g} is spent for today (this request needs up to "
            f"${amount / 1e9:.6f}): ${reservation.client_spent / 1e9:.6f} spent, "
            f"${reservation.client_reserved / 1e9:.6f} held by its requests in flight; it resets at "
            f"{resets.isoformat()} ({settings.timezone})"
        )
    return {
        "error": error,
        "reason": "client_share_exhausted",
        "client": share.name,
        "share_usd": cap,
        "spent_usd": round(reservation.client_spent / 1e9, 9),
        "held_usd": round(reservation.client_reserved / 1e9, 9),
        "request_usd": round(amount / 1e9, 9),
        "resets_at": resets.isoformat(),
        "timezone": settings.timezone,
    }


def refusal(caller: Client | None, model: str, master_key_completions: bool) -> str | None:
    """Why this caller may not ask for this model (the 403's message), or None when it may."""
    if caller is None:
        return "this request carries no client identity"
    if caller is OPERATOR:
        if master_key_completions:
            return None
        return (
            "the master key is for operators (/budget, metrics), not for completions: call with a client's own key "
            "(clients: in the catalog), or set gateway.master_key_completions: true"
        )
    if caller.may_use(model):
        return None
    return f"client '{caller.name}' may not use route '{model}'; its routes: {', '.join(caller.routes) or 'none'}"


def refusal_reason(caller: Client | None) -> str:
    """The ``reason`` of ``refusal``'s 403 (the request's record names it): what was not allowed."""
    if caller is None:
        return "no_client_identity"
    return "master_key_not_for_completions" if caller is OPERATOR else "route_not_allowed"


#: the one operator route a client with ``read_budget`` may read (budget_api.py serves it)
BUDGET_PATH = "/budget"


def operator_route_refusal(caller: Client, path: str) -> str | None:
    """Why this known caller may not read this operator route (the 403's message), or None when it may.

    The master key reads every operator route; a client with ``read_budget`` reads ``/budget`` only: ``/metrics``
    and ``/llmstack/routes`` stay the operator's (budget_api.py says why).
    """
    if caller is OPERATOR:
        return None
    if path.rstrip("/") == BUDGET_PATH:
        if caller.read_budget:
            return None
        return (
            f"client '{caller.name}' may not read the budget: set clients.{caller.name}.read_budget: true in the "
            f"catalog (or llmstack:clients.{caller.name}.read_budget: true in the stack's file) and redeploy, "
            "or read it with the master key"
        )
    return f"client '{caller.name}' may not use operator routes; they need the master key"


def rate_window() -> RateWindow:
    """The stack's Redis when the budget counter lives there (the same URL and key prefix), else this process."""
    settings = load_settings()
    if settings.shared_state == "redis" and settings.redis_url:
        return RedisRateWindow(settings.redis_url, settings.key_prefix)
    return MemoryRateWindow()


class ClientAccess(CustomLogger):
    """Refuses a client's request for a route it was not given, or over its request rate, before any other hook
    reserves or rewrites (so a refused request holds nothing of the budget)."""

    def __init__(
        self, registry_override: ClientRegistry | None = None, window: RateWindow | None = None
    ) -> None:
        super().__init__()
        self._registry = registry_override
        self._window = window

    @property
    def registry(self) -> ClientRegistry:
        return self._registry or registry()

    @property
    def window(self) -> RateWindow:
        if self._window is None:
            self._window = rate_window()
        return self._window

    async def async_pre_call_hook(  # type: ignore[override]
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        caller = caller_of(user_api_key_dict)
        model = str(data.get("model"))
        message = refusal(caller, model, self.registry.master_key_completions)
        if message is not None:
            # the reason names the refusal in the request's record (records.py), as the budget's 429s do
            raise HTTPException(status_code=403, detail={"error": message, "reason": refusal_reason(caller)})
        assert caller is not None
        limit = caller.requests_per_minute
        if limit is not None:
            decision = await self.window.admit(caller.name, limit)
            if not decision.admitted:
                raise RateLimited(rate_refusal(caller.name, limit, decision), decision.retry_after_s)
        # /v1/messages and /v1/responses keep LiteLLM's own metadata in ``litellm_metadata`` (routes.py)
        bucket = "litellm_metadata" if "litellm_metadata" in data else "metadata"
        data.setdefault(bucket, {})[CLIENT_FIELD] = caller.name
        return data


client_access = ClientAccess()

install_surface()
