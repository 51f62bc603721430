"""One typed settings object, validated at start: a missing or weak secret stops the service outside local mode."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TOKEN = re.compile(r"^[0-9]{5,12}:[A-Za-z0-9_-]{30,}$")
WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MIN_SECRET_LENGTH = 24


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base: str = "https://api.telegram.org"
    alerts_secret: str = ""
    gateway_base_url: str = "http://127.0.0.1:4000"
    gateway_api_key: str = ""
    #: empty: a local SQLite file (for development); Railway gives postgresql://...
    database_url: str = ""
    allowed_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    admin_chat_id: int | None = None
    default_route: str = "balanced"
    routes: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["balanced"])
    allowed_updates: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["message", "callback_query"]
    )
    budget_timezone: str = "UTC"
    #: conversation history sent to the gateway is trimmed to about this many tokens
    history_token_budget: int = 4000
    requests_per_minute: int = 10
    gateway_attempts: int = 3
    gateway_timeout_s: float = 120.0
    #: the most characters of one message sent to the model; longer ones are cut, with a notice
    max_question_chars: int = 8000
    #: the largest picture fetched from Telegram for the vision route (Telegram's own cap is 20 MB)
    max_image_bytes: int = 5 * 1024 * 1024
    #: the route photos go to (a catalog route with vision models)
    vision_route: str = "vision"
    #: the bot's @username, for mentions in groups; empty: asked from Telegram (getMe) at start
    telegram_bot_username: str = ""
    #: relaxes the secret checks for a laptop (`llmstack local`, `make demo`)
    llmstack_local: bool = False
    #: 0.0.0.0 on Railway; 127.0.0.1 for local runs and tests
    bind_host: str = "0.0.0.0"
    port: int = 8080
    #: webhook request bodies above this are refused (413); Telegram's updates are a few KB
    max_update_bytes: int = 256 * 1024

    # -- the worker pool and its leases
    #: turns in flight at once (one per chat); nobody waits for another chat's model call below this
    worker_concurrency: int = 16
    #: an inbox lease; renewed every third of it while a turn runs, so a crashed process's work is
    #: picked up this many seconds later
    inbox_lease_s: float = 15.0
    #: tries of one update before it is marked failed (Telegram or database errors; the journal keeps
    #: the model's answer, so a retry never asks the model again)
    max_attempts: int = 5
    #: the first retry's delay; each next one doubles, up to a minute
    retry_backoff_s: float = 2.0
    #: SIGTERM to SIGKILL on Railway (RAILWAY_DEPLOYMENT_DRAINING_SECONDS, 3 s by default): in-flight
    #: turns finish within it or are handed back to the inbox for the next process
    shutdown_timeout_s: float = Field(
        default=3.0,
        validation_alias=AliasChoices("shutdown_timeout_s", "railway_deployment_draining_seconds"),
    )
    #: a 429's retry_after above this hands the update back instead of sleeping on it
    telegram_max_retry_after_s: float = 30.0

    # -- the database: every wait is bounded, so a hanging database means 503 within seconds
    db_connect_timeout_s: float = 3.0
    db_statement_timeout_s: float = 5.0
    #: how long a request waits for a free pooled connection
    db_pool_timeout_s: float = 2.0
    #: the webhook's and /health's whole budget for the database before answering 503
    db_request_timeout_s: float = 4.0

    @field_validator("allowed_user_ids", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [int(v) for v in value.replace(" ", "").split(",") if v]
        return value

    @field_validator("routes", "allowed_updates", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
        return value

    @field_validator("admin_chat_id", mode="before")
    @classmethod
    def _optional_int(cls, value: Any) -> Any:
        return None if value in ("", None) else value

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        problems = []
        if not TOKEN.match(self.telegram_bot_token):
            problems.append("TELEGRAM_BOT_TOKEN is missing or not a bot token (<digits>:<35 characters>)")
        if not WEBHOOK_SECRET.match(self.telegram_webhook_secret):
            problems.append("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        if self.worker_concurrency < 1:
            problems.append("WORKER_CONCURRENCY must be at least 1")
        if self.inbox_lease_s < 1:
            problems.append("INBOX_LEASE_S must be at least 1 second")
        if self.default_route not in self.routes:
            problems.append(f"DEFAULT_ROUTE {self.default_route!r} is not one of ROUTES {self.routes}")
        if not self.llmstack_local:
            for name in ("telegram_webhook_secret", "alerts_secret", "gateway_api_key"):
                if len(getattr(self, name)) < MIN_SECRET_LENGTH:
                    problems.append(
                        f"{name.upper()} is missing or weak (fewer than {MIN_SECRET_LENGTH} characters)"
                    )
        if problems:
            raise ValueError("the bot cannot start: " + "; ".join(problems))
        return self

    def sqlalchemy_url(self) -> str:
        url = self.database_url or "sqlite:///./llmstack-bot.db"
        if url.startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
