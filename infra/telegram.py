"""The Telegram webhook as a resource: ``setWebhook`` on create and update, ``deleteWebhook`` on delete.

A dynamic provider (no Pulumi provider for the Bot API exists). The bot token is an input because it *is* the
webhook's identity: a secret input, and a secret output (``additional_secret_outputs``) so ``delete`` can reach
the API. It is never part of an error message: httpx puts the request URL, which embeds the token, into its
exceptions, so they are replaced by our own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from infra.railway.resources import digest
from infra.serving import is_unknown

DEFAULT_API_BASE = "https://api.telegram.org"


class TelegramError(Exception):
    pass


def call_bot_api(
    api_base: str, token: str, method: str, payload: Mapping[str, Any], timeout_s: float = 30.0
) -> Any:
    url = f"{api_base.rstrip('/')}/bot{token}/{method}"
    try:
        response = httpx.post(url, json=dict(payload), timeout=timeout_s)
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise TelegramError(f"Telegram {method} failed: {type(exc).__name__} talking to {api_base}") from None
    if not isinstance(body, dict) or not body.get("ok"):
        description = body.get("description") if isinstance(body, dict) else None
        raise TelegramError(f"Telegram {method} failed: {description or f'HTTP {response.status_code}'}")
    return body.get("result")


def _valid_secret_token(secret: str) -> bool:
    return 1 <= len(secret) <= 256 and all(c.isalnum() or c in "_-" for c in secret)


class WebhookProvider(ResourceProvider):
    _compared = ("api_base", "url", "allowed_updates", "max_connections")

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        # in a first preview the URL (the bot's domain) and generated secrets are not known yet: judge them at
        # `up`, when they are
        failures = []
        url = news.get("url")
        if not is_unknown(url) and not str(url or "").startswith("https://"):
            failures.append(CheckFailure("url", "Telegram only delivers webhooks to https:// URLs"))
        secret = news.get("secret_token")
        if not is_unknown(secret) and not _valid_secret_token(str(secret or "")):
            failures.append(CheckFailure("secret_token", "1-256 characters of A-Z, a-z, 0-9, _ and -"))
        if not is_unknown(news.get("bot_token")) and not news.get("bot_token"):
            failures.append(CheckFailure("bot_token", "the bot token is required"))
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = any(olds.get(k) != news.get(k) for k in self._compared)
        changed = changed or olds.get("credentials_digest") != self._credentials(news)
        return DiffResult(changes=changed, replaces=[])

    @staticmethod
    def _credentials(props: Mapping[str, Any]) -> str:
        return digest({"bot": props.get("bot_token"), "secret": props.get("secret_token")})

    def _set(self, props: Mapping[str, Any]) -> dict[str, Any]:
        call_bot_api(
            props["api_base"],
            props["bot_token"],
            "setWebhook",
            {
                "url": props["url"],
                "secret_token": props["secret_token"],
                "allowed_updates": list(props.get("allowed_updates") or []),
                "max_connections": int(props.get("max_connections") or 40),
                "drop_pending_updates": False,
            },
        )
        outs = {k: props.get(k) for k in self._compared}
        outs["credentials_digest"] = self._credentials(props)
        # kept so delete can call deleteWebhook; the resource marks both as additional secret outputs
        outs["bot_token"] = props["bot_token"]
        outs["secret_token"] = props["secret_token"]
        return outs

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(f"webhook-{digest({'url': props['url']})[:12]}", self._set(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(self._set(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        return ReadResult(id_, props)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        token = props.get("bot_token")
        if token:
            call_bot_api(props["api_base"], token, "deleteWebhook", {"drop_pending_updates": False})


class TelegramWebhook(Resource, module="telegram", name="Webhook"):
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        bot_token: pulumi.Input[str],
        url: pulumi.Input[str],
        secret_token: pulumi.Input[str],
        allowed_updates: pulumi.Input[list[str]],
        api_base: pulumi.Input[str] = DEFAULT_API_BASE,
        max_connections: int = 40,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "bot_token": pulumi.Output.secret(bot_token),
            "secret_token": pulumi.Output.secret(secret_token),
            "url": url,
            "allowed_updates": allowed_updates,
            "api_base": api_base,
            "max_connections": max_connections,
            "credentials_digest": None,
        }
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["bot_token", "secret_token"])
        super().__init__(WebhookProvider(), name, props, pulumi.ResourceOptions.merge(opts, secret_outputs))
