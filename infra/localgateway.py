"""Our services started locally as their containers run them: the real LiteLLM proxy with a rendered config
(``python -m llmstack_gateway.entrypoint``) and the Telegram bot (``python -m llmstack_bot.app``).

Used by ``llmstack local``, ``llmstack drill``, ``make demo``, the integration tests and the benchmarks. Loopback only; every start is bounded
and every process it starts is stopped, children included.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = Path(__file__).resolve().parent.parent / "services"
GATEWAY_SERVICE_DIR = SERVICES / "litellm-gateway"
BOT_SERVICE_DIR = SERVICES / "telegram-bot"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GatewayStartError(RuntimeError):
    pass


@dataclass
class LocalService:
    """A service of ours started from its own directory, as its container would run it."""

    module: str
    service_dir: Path
    health_path: str
    env: Mapping[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    startup_timeout_s: float = 120.0
    _process: subprocess.Popen[bytes] | None = None
    _log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def environment(self) -> dict[str, str]:
        pythonpath = os.pathsep.join(
            p for p in (str(self.service_dir), os.environ.get("PYTHONPATH", "")) if p
        )
        return {**os.environ, "PORT": str(self.port), "PYTHONPATH": pythonpath, **self.env}

    def start(self) -> None:
        log = tempfile.NamedTemporaryFile(prefix="llmstack-service-", suffix=".log", delete=False)  # noqa: SIM115
        self._log_path = Path(log.name)
        self._process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches the workers too
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise GatewayStartError(
                    f"{self.module} exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}{self.health_path}", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        tail = self.log_tail()  # before stop() removes the log
        self.stop()
        raise GatewayStartError(
            f"{self.module} did not become live in {self.startup_timeout_s:.0f}s:\n{tail}"
        )

    def cpu_seconds(self) -> float | None:
        """User + system CPU the service's processes (its process group: workers too) have used while alive.

        Read from Linux's ``/proc/<pid>/stat`` (proc(5): fields ``pgrp``, ``utime``, ``stime``); None where there is
        no ``/proc``. The benchmarks divide it by the requests served: a cost that does not depend on the load.
        """
        if self._process is None or not Path("/proc/self/stat").exists():
            return None
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue  # gone between the listing and the read
            if int(fields[2]) == self._process.pid:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 40) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
        self._process = None
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crashed container or an OOM kill would: no cleanup runs."""
        process = self._process
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        self.stop()

    @contextmanager
    def running(self) -> Iterator[LocalService]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


class LocalGateway(LocalService):
    """The LiteLLM proxy with a rendered config, through ``python -m llmstack_gateway.entrypoint``."""

    def __init__(
        self,
        config_text: str,
        master_key: str,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        startup_timeout_s: float = 120.0,
    ) -> None:
        self.config_text = config_text
        self.master_key = master_key
        self.workers = workers
        super().__init__(
            module="llmstack_gateway.entrypoint",
            service_dir=GATEWAY_SERVICE_DIR,
            health_path="/health/liveliness",
            env={
                "LITELLM_CONFIG_YAML": config_text,
                "LITELLM_MASTER_KEY": master_key,
                "LITELLM_NUM_WORKERS": str(workers),
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LLMSTACK_BIND_HOST": "127.0.0.1",
                # the one place an in-memory budget counter is allowed: a deployed gateway refuses it
                "LLMSTACK_LOCAL": "1",
                **(env or {}),
            },
            port=port or free_port(),
            startup_timeout_s=startup_timeout_s,
        )


class LocalBot(LocalService):
    """The Telegram bot, through ``python -m llmstack_bot.app``; settings as environment variables."""

    def __init__(self, env: Mapping[str, str], port: int | None = None) -> None:
        super().__init__(
            module="llmstack_bot.app",
            service_dir=BOT_SERVICE_DIR,
            health_path="/health",
            env=dict(env),
            port=port or free_port(),
            startup_timeout_s=60.0,
        )
