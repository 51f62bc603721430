"""Our services started locally as their containers run them: the real LiteLLM proxy with a rendered config
(``python -m llmstack_gateway.entrypoint``) and the Telegram bot (``python -m llmstack_bot.app``).

Used by ``llmstack local``, ``llmstack drill``, ``make demo``, the integration tests and the benchmarks. Loopback only; every start is bounded
and every process it starts is stopped, children included.
"""

from __future__ import annotations

import os
import shutil
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
#: the directory the gateway's entrypoint writes into (llmstack_gateway/entrypoint.py)
CONFIG_DIR_ENV = "LLMSTACK_CONFIG_DIR"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether another socket holds ``host:port``: a bind as uvicorn makes it (``SO_REUSEADDR``) fails.

    LiteLLM's own test (``proxy_cli.py``, ``is_port_in_use``: a connect to localhost) moves a busy 4000 to a random
    port instead of failing; any other busy port ends the proxy with ``[Errno 98] address already in use``.
    """
    with socket.socket() as sock:
        sock.settimeout(0.5)
        # what LiteLLM itself asks: does anything answer there? On BSD and macOS the bind below succeeds even
        # while another process listens on 0.0.0.0 with the same port, so the bind alone would miss it there
        if sock.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


#: Linux's process file system (proc(5)), the kernel's interface on every Linux machine (not a path of this one);
#: where it is missing (macOS), the checks that read it answer None and are skipped
PROC = Path("/proc")


def group_processes(pgid: int) -> Iterator[tuple[Path, list[str]]]:
    """Each live process of group ``pgid``: its ``/proc/<pid>`` directory and the ``stat`` fields after the command
    name (proc(5): index 2 is ``pgrp``, 11 and 12 ``utime`` and ``stime``); one gone meanwhile is skipped."""
    for stat in PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                yield stat.parent, fields
        except (OSError, IndexError, ValueError):
            continue


def listening_socket_inodes(port: int) -> set[int] | None:
    """The inodes of the TCP sockets listening on ``port`` (any address), from Linux's ``/proc/net/tcp`` and
    ``tcp6`` (proc(5): ``local_address`` as hex ``addr:port``, ``st`` 0A is LISTEN, ``inode``); None without them.
    """
    tables = [PROC / "net" / "tcp", PROC / "net" / "tcp6"]
    if not any(t.exists() for t in tables):
        return None
    inodes: set[int] = set()
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def group_socket_inodes(pgid: int) -> set[int]:
    """The inodes of the sockets open in process group ``pgid`` (``/proc/<pid>/stat`` ``pgrp``, and each
    ``/proc/<pid>/fd`` link, ``socket:[inode]``: proc(5)); a process gone or unreadable meanwhile is skipped."""
    links: list[str] = []
    for process, _ in group_processes(pgid):
        try:
            fds = list((process / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                links.append(str(fd.readlink()))
            except OSError:
                continue  # closed meanwhile
    return {int(link[8:-1]) for link in links if link.startswith("socket:[")}


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
    #: its output goes to ours (``llmstack local``: the records and LiteLLM's lines on the console, as ``litellm``
    #: prints them) instead of a temporary log that ``log_tail`` reads and ``stop`` removes
    echo: bool = False
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
        output: int | None = None
        if not self.echo:
            output, log_name = tempfile.mkstemp(prefix="llmstack-service-", suffix=".log")
            self._log_path = Path(log_name)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.environment(),
                stdout=output,
                stderr=subprocess.STDOUT if output is not None else None,
                start_new_session=True,  # its own process group: stop() reaches the workers too
            )
        finally:
            if output is not None:
                os.close(output)
        try:
            self._wait_live()
        except BaseException:
            # a failed start, a timeout, Ctrl-C or SIGTERM meanwhile: nothing it started is left running or on disk
            self.stop()
            raise

    def _wait_live(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise GatewayStartError(
                    f"{self.module} exited with {self._process.returncode}{self._output_hint()}"
                )
            try:
                live = httpx.get(f"{self.url}{self.health_path}", timeout=1).status_code == 200
            except httpx.HTTPError:
                live = False
            if live:
                if self._serves_port() is False:
                    raise GatewayStartError(
                        f"{self.url} answers, but not from {self.module}: another process listens on port "
                        f"{self.port}{self._output_hint()}"
                    )
                return
            time.sleep(0.2)
        raise GatewayStartError(
            f"{self.module} did not become live in {self.startup_timeout_s:.0f}s{self._output_hint()}"
        )

    def exit_code(self) -> int | None:
        """None while the service's main process runs (or was never started), else how it ended."""
        return None if self._process is None else self._process.poll()

    def _serves_port(self) -> bool | None:
        """Whether the socket listening on our port is one of our process group's; None where Linux's /proc cannot
        say. A health check alone cannot tell: LiteLLM moves off a busy 4000 (``proxy_cli.py``), and another
        gateway there answers the same ``/health/liveliness``."""
        listening = listening_socket_inodes(self.port)
        if listening is None or self._process is None:
            return None
        return bool(listening & group_socket_inodes(self._process.pid))

    def _output_hint(self) -> str:
        if self.echo:
            return " (its output is above)"
        tail = self.log_tail()
        return f":\n{tail}" if tail else ""

    def cpu_seconds(self) -> float | None:
        """User + system CPU the service's processes (its process group: workers too) have used while alive.

        Read from Linux's ``/proc/<pid>/stat`` (proc(5): fields ``pgrp``, ``utime``, ``stime``); None where there is
        no ``/proc``. The benchmarks divide it by the requests served: a cost that does not depend on the load.
        """
        if self._process is None or not (PROC / "self" / "stat").exists():
            return None
        ticks = sum(int(fields[11]) + int(fields[12]) for _, fields in group_processes(self._process.pid))
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
            self._log_path = None

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
        echo: bool = False,
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
            echo=echo,
        )
        #: where the entrypoint writes the config and the Prometheus files (``LLMSTACK_CONFIG_DIR``), made by
        #: each start and removed by stop; without it the entrypoint makes an llmstack-gateway-* directory in the
        #: system's temporary directory that nobody removes
        self._config_dir: Path | None = None

    def environment(self) -> dict[str, str]:
        environment = super().environment()
        if self._config_dir is not None:
            environment[CONFIG_DIR_ENV] = str(self._config_dir)
        return environment

    def start(self) -> None:
        if CONFIG_DIR_ENV not in self.env:  # a directory the caller passes is the caller's to remove
            self._config_dir = Path(tempfile.mkdtemp(prefix="llmstack-gateway-"))
        super().start()

    def stop(self) -> None:
        super().stop()
        if self._config_dir is not None:
            shutil.rmtree(self._config_dir, ignore_errors=True)
            self._config_dir = None


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
