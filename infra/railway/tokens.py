"""Which Railway token the stack uses, decided once, before any call is made.

Railway's convention (railwayapp/cli ``src/consts.rs`` and ``src/client.rs``; docs ``cli/login.md`` and
``integrations/api.md``):

- ``RAILWAY_API_TOKEN``: an account or workspace token, sent as ``Authorization: Bearer <token>``. It can
  create projects, list a workspace's projects and connect sources: what this stack needs.
- ``RAILWAY_TOKEN``: a *project* token, sent as ``Project-Access-Token: <token>``. It is scoped to one
  environment of one existing project: it cannot create a project, list projects or run ``serviceConnect``
  (jamesprnich/terraform-provider-railway's auth guide). Sent as Bearer it fails deep inside a run with
  "Not Authorized", so it is refused here, up front, with a message that says what to set instead.

Railway's tokens are all UUIDs, so the kind cannot be read from the value: the variable it came from is the
signal, exactly as the CLI uses it (``RAILWAY_TOKEN`` wins there and is always sent as a project token).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

TOKEN_CONFIG_KEY = "llmstack:railway_token"
API_TOKEN_ENV = "RAILWAY_API_TOKEN"
PROJECT_TOKEN_ENV = "RAILWAY_TOKEN"

NEEDED = (
    "this stack needs a Railway account or workspace token (railway.com/account/tokens): "
    f"`pulumi config set --secret {TOKEN_CONFIG_KEY} <token>` or the {API_TOKEN_ENV} environment variable"
)


class RailwayTokenError(ValueError):
    """No usable token; the message says which one to set. It never contains a token."""


@dataclass(frozen=True)
class RailwayToken:
    """An account or workspace token and where it came from (for messages; the value is never shown)."""

    value: str = field(repr=False)
    #: e.g. "config llmstack:railway_token" or "environment RAILWAY_API_TOKEN"
    origin: str

    def headers(self) -> dict[str, str]:
        # account and workspace tokens are Bearer tokens (railwayapp/cli src/client.rs new_authorized)
        return {"Authorization": f"Bearer {self.value}"}

    def __str__(self) -> str:
        return f"Railway account/workspace token from {self.origin}"


def resolve_token(config_token: str | None, environ: Mapping[str, str]) -> RailwayToken:
    """The stack's Railway token: ``llmstack:railway_token``, else ``RAILWAY_API_TOKEN``.

    Raises ``RailwayTokenError`` when only a project token (``RAILWAY_TOKEN``) is set, or none at all.
    """
    if config_token and config_token.strip():
        return RailwayToken(config_token.strip(), f"config {TOKEN_CONFIG_KEY}")
    api_token = (environ.get(API_TOKEN_ENV) or "").strip()
    if api_token:
        return RailwayToken(api_token, f"environment {API_TOKEN_ENV}")
    if (environ.get(PROJECT_TOKEN_ENV) or "").strip():
        raise RailwayTokenError(
            f"{PROJECT_TOKEN_ENV} is set, and in Railway's convention it holds a project token "
            "(sent as Project-Access-Token, scoped to one existing environment; it cannot create the "
            f"project, list a workspace or connect a repository). {NEEDED}. "
            f"Move the token to {API_TOKEN_ENV} only if it is an account or workspace token."
        )
    raise RailwayTokenError(f"no Railway token: {NEEDED}")
