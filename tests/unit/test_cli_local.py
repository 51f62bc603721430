"""`llmstack local`'s checks without a gateway: the port, a service that does not start or is not the one answering,
the stop signals. The real command, gateway and all, is tests/integration/test_local_command.py."""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from infra.cli import main
from infra.local import Stopped, stopped_by_signals
from infra.localgateway import (
    GatewayStartError,
    LocalGateway,
    LocalService,
    group_socket_inodes,
    listening_socket_inodes,
    port_in_use,
)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


class _Alive(BaseHTTPRequestHandler):
    """Answers 200 to any GET, as LiteLLM's /health/liveliness does ("I'm alive!"): another gateway on the port."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'"I\'m alive!"')

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_gateway() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Alive)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_port_in_use(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    assert port_in_use(port)
    listener.close()
    assert not port_in_use(port)


def test_listening_socket_is_found_in_its_process_group(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    listening = listening_socket_inodes(port)
    assert listening is not None, "this test runs on Linux, where /proc/net/tcp exists"
    assert len(listening) == 1
    assert listening <= group_socket_inodes(os.getpgid(0))
    assert not listening & group_socket_inodes(os.getpgid(0) + 1_000_000)  # no such group


def test_busy_port_is_refused_before_anything_starts(
    listener: socket.socket, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    port = listener.getsockname()[1]
    code = main(["local", "--stack", "dev", "--simulate", "--port", str(port), "--build-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == (
        f"llmstack local: port {port} is in use: stop what listens there, or choose another port with --port N\n"
    )
    assert not (tmp_path / "local").exists()  # nothing started, no key written


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_port_must_be_a_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["local", "--stack", "dev", "--port", port])
    assert exited.value.code == 2
    assert f"a port is a number from 1 to 65535, not '{port}'" in capsys.readouterr().err


def _service(tmp_path: Path, source: str, port: int) -> LocalService:
    (tmp_path / "service_double.py").write_text(source)
    return LocalService(
        module="service_double", service_dir=tmp_path, health_path="/health", port=port, startup_timeout_s=20
    )


def test_a_service_that_exits_is_reported_with_its_output_and_leaves_no_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "tmp"
    logs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(logs))
    # a service that fails at start as uvicorn does on a taken port ([Errno 98], exit 3)
    service = _service(tmp_path, "import sys\nprint('[Errno 98] address already in use')\nsys.exit(3)\n", 1)
    with pytest.raises(GatewayStartError) as caught:
        service.start()
    assert str(caught.value) == "service_double exited with 3:\n[Errno 98] address already in use"
    assert list(logs.iterdir()) == []


def test_a_port_answered_by_another_process_is_not_taken_for_ours(
    tmp_path: Path, other_gateway: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # LiteLLM moves off a busy port 4000 to a random one (proxy_cli.py: `if port == 4000 and
    # is_port_in_use(port): port = random.randint(1024, 49152)`) and serves there: this double does the same,
    # while another gateway (other_gateway) answers the health check on the port we asked for
    moved = (
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n"
        "HTTPServer(('127.0.0.1', 0), BaseHTTPRequestHandler).serve_forever()\n"
    )
    logs = tmp_path / "tmp"
    logs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(logs))
    service = _service(tmp_path, moved, other_gateway)
    with pytest.raises(GatewayStartError) as caught:
        service.start()
    assert str(caught.value) == (
        f"http://127.0.0.1:{other_gateway} answers, but not from service_double: another process listens on "
        f"port {other_gateway}"
    )
    assert service._process is None  # stopped
    assert list(logs.iterdir()) == []


def test_gateway_config_dir_is_its_own_and_removed_on_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gateway = LocalGateway("model_list: []\n", "sk-test", echo=True)
    gateway.module = "this_module_does_not_exist"  # `python -m` exits 1 at once: no LiteLLM start needed
    with pytest.raises(GatewayStartError, match=r"exited with 1 \(its output is above\)$"):
        gateway.start()
    assert list(tmp_path.iterdir()) == []
    config_dir = tmp_path / "given"
    passed = LocalGateway("model_list: []\n", "sk-test", env={"LLMSTACK_CONFIG_DIR": str(config_dir)})
    assert passed.environment()["LLMSTACK_CONFIG_DIR"] == str(config_dir)  # the caller's, left alone


def test_stop_signals_raise_once_then_are_ignored_and_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped, match="SIGTERM"), stopped_by_signals():
        os.kill(
            os.getpid(), signal.SIGTERM
        )  # os.kill runs a handler for a signal to itself before it returns
        pytest.fail("SIGTERM did not stop")
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_signal_ignored_at_start_stays_ignored() -> None:
    # a process started with `&` from a script inherits SIGINT ignored (POSIX: job control off)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stopped_by_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)
