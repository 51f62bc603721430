"""`llmstack local` as a newcomer runs it: a real `llmstack local --stack dev --simulate` process (one gateway start
for the module), its console, a second one on the same port, and SIGTERM stopping it with nothing left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.localgateway import free_port, port_in_use
from tests.conftest import ROOT

LOCAL_DEV = [sys.executable, "-m", "infra.cli", "local", "--stack", "dev", "--simulate"]
TOOLS_KEY = "sk-local-tools-" + "7" * 24


@dataclass
class Local:
    process: subprocess.Popen[bytes]
    port: int
    console: Path
    build: Path
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.console.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.output()
            if text in output:
                return output
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not on the console:\n{self.output()[-3000:]}")


def llmstack_local(port: int, build: Path, tmp: Path, console: Path, **env: str) -> subprocess.Popen[bytes]:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("LLMSTACK_CLIENT_", "LITELLM_MASTER"))
    }
    with console.open("wb") as out:
        return subprocess.Popen(
            [*LOCAL_DEV, "--port", str(port), "--build-dir", str(build)],
            cwd=ROOT,
            env={**environ, "TMPDIR": str(tmp), **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            # started with `&` from a script, a process inherits SIGINT ignored (POSIX job control off): only
            # SIGTERM can stop it
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )


def llmstack_tmp_files(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("llmstack-"))


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    base = tmp_path_factory.mktemp("local")
    tmp = base / "tmp"
    tmp.mkdir()
    port = free_port()
    console = base / "console.log"
    process = llmstack_local(port, base / "build", tmp, console, LLMSTACK_CLIENT_TOOLS_KEY=TOOLS_KEY)
    running = Local(process, port, console, base / "build", tmp)
    try:
        running.wait_for("\ngateway for dev on", timeout=120)  # not "starting the gateway for dev on"
        yield running
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def test_the_console_shows_litellm_and_each_request_record(local: Local) -> None:
    response = httpx.post(
        f"{local.url}/v1/chat/completions",
        json={"model": "simple", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {TOOLS_KEY}"},  # a client key exported before `llmstack local`
        timeout=30,
    )
    assert response.status_code == 200, response.text
    request_id = response.headers["x-litellm-call-id"]
    output = local.wait_for(request_id)
    assert f"Uvicorn running on {local.url}" in output  # LiteLLM's own lines
    (line,) = [line for line in output.splitlines() if request_id in line and line.startswith("{")]
    record = json.loads(line)
    assert (record["event"], record["client"], record["asked"], record["outcome"]) == (
        "llmstack.request",
        "tools",
        "simple",
        "ok",
    )
    assert TOOLS_KEY not in output


def test_a_client_without_its_key_is_named_by_its_variable(local: Local) -> None:
    # the shipped dev stack has clients bot and tools; only tools' variable was exported
    local.wait_for(
        "client 'bot' has no key: LLMSTACK_CLIENT_BOT_KEY is unset or empty; every call with its key is refused"
    )


def test_the_master_key_asks_for_completions_locally(local: Local) -> None:
    key = (local.build / "local" / "dev.master-key").read_text()
    response = httpx.post(
        f"{local.url}/v1/chat/completions",
        json={"model": "simple", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert key not in local.output()


def test_a_second_local_on_the_same_port_is_refused_in_one_line(local: Local, tmp_path: Path) -> None:
    console = tmp_path / "second.log"
    second = llmstack_local(local.port, tmp_path / "build", local.tmp, console)
    assert second.wait(timeout=60) == 1
    assert console.read_text() == (
        f"llmstack local: port {local.port} is in use: stop what listens there, or choose another port with "
        "--port N\n"
    )


def test_a_gateway_that_does_not_start_is_one_line_not_a_traceback(local: Local, tmp_path: Path) -> None:
    # LiteLLM refuses a metrics port equal to its own (proxy_cli.py: "--prometheus_metrics_port must differ
    # from --port", exit 2), read from PROMETHEUS_METRICS_PORT: a real start failure, before any model loads
    port = free_port()
    console = tmp_path / "failed.log"
    failed = llmstack_local(port, tmp_path / "build", local.tmp, console, PROMETHEUS_METRICS_PORT=str(port))
    assert failed.wait(timeout=120) == 1
    output = console.read_text()
    assert "Traceback" not in output
    assert "--prometheus_metrics_port must differ from --port" in output  # the gateway's own words, above
    assert output.endswith(
        "llmstack local: the gateway did not start: llmstack_gateway.entrypoint exited with 2 (its output is above)\n"
    )


def test_a_gateway_that_dies_ends_local_with_its_exit_code(tmp_path: Path) -> None:
    """A crash or an OOM kill after the start: `local` says so and exits 1, rather than waiting on a dead port."""
    port = free_port()
    console = tmp_path / "dies.log"
    process = llmstack_local(port, tmp_path / "build", tmp_path, console)
    dying = Local(process, port, console, tmp_path / "build", tmp_path)
    try:
        dying.wait_for("\ngateway for dev on", timeout=120)
        children = subprocess.run(
            ["pgrep", "-P", str(process.pid)], capture_output=True, text=True, check=True
        )
        (gateway,) = [int(pid) for pid in children.stdout.split()]  # the simulator runs inside `local`
        os.killpg(gateway, signal.SIGKILL)  # its own session: the proxy and its workers
        assert process.wait(timeout=30) == 1
        assert dying.output().endswith(
            "llmstack local: the gateway exited with -9 (its log is above): stopping\n"
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_sigterm_stops_the_gateway_and_leaves_nothing(local: Local) -> None:
    """Last in the module: it stops the module's gateway."""
    simulator = local.output().split("provider simulator on http://127.0.0.1:", 1)[1].split()[0]
    # while it runs: the gateway's config directory, and no log file (its output is on the console)
    assert [name[: len("llmstack-gateway-")] for name in llmstack_tmp_files(local.tmp)] == [
        "llmstack-gateway-"
    ]
    started = time.monotonic()
    local.process.send_signal(signal.SIGTERM)
    assert local.process.wait(timeout=45) == 0, local.output()[-3000:]
    assert time.monotonic() - started < 45
    assert "stopping (SIGTERM)" in local.output()
    assert not port_in_use(local.port)
    assert not port_in_use(int(simulator))
    assert llmstack_tmp_files(local.tmp) == []
