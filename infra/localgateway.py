"""The real LiteLLM proxy, started locally with a rendered config, through the gateway service's own entrypoint.

Used by ``llmstack local``, ``llmstack drill``, the integration tests and the benchmarks, so all of them run the
same code the container runs (``python -m llmstack_gateway.entrypoint``). Loopback only; every start is bounded
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

GATEWAY_SERVICE_DIR = Path(__file__).resolve().parent.parent / "services" / "litellm-gateway"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GatewayStartError(RuntimeError):
    pass


@dataclass
class LocalGateway:
    config_text: str
    master_key: str
    workers: int = 1
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
            p for p in (str(GATEWAY_SERVICE_DIR), os.environ.get("PYTHONPATH", "")) if p
        )
        return {
            **os.environ,
            "LITELLM_CONFIG_YAML": self.config_text,
            "LITELLM_MASTER_KEY": self.master_key,
            "LITELLM_NUM_WORKERS": str(self.workers),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LLMSTACK_BIND_HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PYTHONPATH": pythonpath,
            **self.env,
        }

    def start(self) -> None:
        log = tempfile.NamedTemporaryFile(prefix="llmstack-gateway-", suffix=".log", delete=False)  # noqa: SIM115
        self._log_path = Path(log.name)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "llmstack_gateway.entrypoint"],
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
                    f"the gateway exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise GatewayStartError(
            f"the gateway did not become live in {self.startup_timeout_s:.0f}s:\n{self.log_tail()}"
        )

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

    @contextmanager
    def running(self) -> Iterator[LocalGateway]:
        self.start()
        try:
            yield self
        finally:
            self.stop()
