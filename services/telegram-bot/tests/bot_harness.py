"""Helpers of the bot's tests: the bot as it runs (uvicorn on 127.0.0.1) and update builders."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # the shared fakes in tests/fakes

from infra.simulator.telegram import FakeTelegram  # noqa: E402

if TYPE_CHECKING:
    from llmstack_bot.settings import Settings

TOKEN = "123456789:" + "A" * 35
WEBHOOK_SECRET = "webhook-secret-" + "w" * 20
ALERTS_SECRET = "alerts-secret-" + "a" * 20
GATEWAY_KEY = "sk-gateway-" + "g" * 24
ALLOWED = [1001, 1002]
ADMIN_CHAT = 9001
POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(POSTGRES, connect_timeout=2).close()
        return True
    except Exception:
        return False


def required_settings(**overrides: Any) -> Settings:
    """Settings with what has no default (the bot token and the three secrets, long enough to pass), the rest from
    the environment or the defaults: for the rules tested without a server."""
    from llmstack_bot.settings import Settings

    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_webhook_secret": WEBHOOK_SECRET,
        "alerts_secret": ALERTS_SECRET,
        "gateway_api_key": GATEWAY_KEY,
        **overrides,
    }
    return Settings(**values)


def bot_settings(database_url: str, telegram: FakeTelegram, gateway_url: str, **overrides: Any) -> Settings:
    """The settings of a bot served here: the fake Bot API and gateway, short leases and timeouts."""
    values: dict[str, Any] = {
        "telegram_api_base": telegram.api_base,
        "gateway_base_url": gateway_url,
        "database_url": database_url,
        "allowed_user_ids": ALLOWED,
        "admin_chat_id": ADMIN_CHAT,
        "default_route": "balanced",
        "routes": ["balanced", "simple"],
        "gateway_attempts": 2,
        "requests_per_minute": 1000,
        # short leases and timeouts: a crash is recovered, a hanging database detected, in seconds
        "inbox_lease_s": 3.0,
        "retry_backoff_s": 0.2,
        "shutdown_timeout_s": 3.0,
        "db_connect_timeout_s": 2.0,
        "db_statement_timeout_s": 5.0,
        "db_pool_timeout_s": 1.0,
        "db_request_timeout_s": 5.0,
        "bind_host": "127.0.0.1",
        **overrides,
    }
    return required_settings(**values)


@dataclass
class RunningBot:
    url: str
    app: Any
    server: Any
    thread: threading.Thread

    def post(
        self, update: Any, *, secret: str | None = WEBHOOK_SECRET, raw: bytes | None = None
    ) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        if raw is not None:
            return httpx.post(f"{self.url}/telegram/webhook", content=raw, headers=headers, timeout=30)
        return httpx.post(f"{self.url}/telegram/webhook", json=update, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def start_bot(settings: Any, *, run_worker: bool = True, ready: bool = True) -> RunningBot:
    import uvicorn
    from llmstack_bot.app import create_app

    app = create_app(settings, run_worker=run_worker)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the bot did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    running = RunningBot(f"http://127.0.0.1:{port}", app, server, thread)
    if ready:  # migrations run in the background; the webhook answers 503 until they are done
        wait_for(lambda: httpx.get(f"{running.url}/health", timeout=5).status_code == 200, timeout=30)
        # the @username comes from getMe at start: group mentions are recognised once it is known
        wait_for(lambda: bool(app.state.ctx.identity.username), timeout=10)
    return running


def message(update_id: int, user_id: int, text: str, *, chat: dict[str, Any] | None = None) -> dict[str, Any]:
    """A text message as the Bot API delivers it (a private chat unless ``chat`` says otherwise)."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1796000000,
            "text": text,
            "from": {"id": user_id, "is_bot": False, "first_name": f"u{user_id}"},
            "chat": chat or {"id": user_id, "type": "private", "first_name": f"u{user_id}"},
        },
    }


def wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")
