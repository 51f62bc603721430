"""The bot as Railway runs it: ``python -m llmstack_bot.app`` in its own process, settings from the environment,
so tests can SIGKILL or SIGTERM it mid-turn and start the next one on the same database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bot_harness import ALERTS_SECRET, GATEWAY_KEY, TOKEN, WEBHOOK_SECRET

from infra.localgateway import free_port

SERVICE = Path(__file__).resolve().parent.parent


def bot_environment(database_url: str, telegram_api: str, gateway_url: str, **extra: Any) -> dict[str, str]:
    """Environment variables as the Pulumi program sets them (names are the Settings fields, upper-cased)."""
    values: dict[str, Any] = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TELEGRAM_API_BASE": telegram_api,
        "ALERTS_SECRET": ALERTS_SECRET,
        "GATEWAY_API_KEY": GATEWAY_KEY,
        "GATEWAY_BASE_URL": gateway_url,
        "DATABASE_URL": database_url,
        "ALLOWED_USER_IDS": "1001,1002",
        "ROUTES": '["balanced"]',
        "GATEWAY_ATTEMPTS": "1",
        "BIND_HOST": "127.0.0.1",
        "INBOX_LEASE_S": "2",
        "RETRY_BACKOFF_S": "0.2",
        **{k.upper(): str(v) for k, v in extra.items()},
    }
    return values


class BotProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.NamedTemporaryFile(prefix="llmstack-bot-", suffix=".log", delete=False)  # noqa: SIM115
        pythonpath = os.pathsep.join(p for p in (str(SERVICE), os.environ.get("PYTHONPATH", "")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "llmstack_bot.app"],
            env={**os.environ, **env, "PORT": str(self.port), "PYTHONPATH": pythonpath},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the bot exited:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the bot did not become ready:\n{self.log()}")

    def post(self, update: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.url}/telegram/webhook",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET},
            timeout=30,
        )

    def signal(self, number: signal.Signals) -> None:
        self.process.send_signal(number)

    def wait_exit(self, timeout_s: float) -> float:
        """Seconds until the process exited (AssertionError past ``timeout_s``)."""
        started = time.monotonic()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"still running {timeout_s} s later:\n{self.log()}") from exc
        return time.monotonic() - started

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)
