"""One typed settings object, validated at start: a missing or weak secret stops the service outside local mode."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
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
    #: relaxes the secret checks for a laptop (`llmstack local`, `make demo`)
    llmstack_local: bool = False
    port: int = 8080

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
