"""The TCP proxy forwards, hangs (accepts, answers nothing), resumes with what it held, and goes down/up;
against a plain echo server and against the real Postgres the bot uses."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from tests.fakes.tcp_proxy import TcpProxy

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def echo_proxy() -> Iterator[TcpProxy]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        with TcpProxy("127.0.0.1", server.server_address[1]).running() as proxy:
            yield proxy
    finally:
        server.shutdown()
        server.server_close()


def connect(proxy: TcpProxy) -> socket.socket:
    sock = socket.create_connection(proxy.address, timeout=2)
    sock.settimeout(0.5)
    return sock


def test_it_forwards_both_ways(echo_proxy: TcpProxy) -> None:
    with connect(echo_proxy) as sock:
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
    assert echo_proxy.accepted == 1


def test_hung_it_accepts_but_never_answers_then_delivers_what_it_held(echo_proxy: TcpProxy) -> None:
    with connect(echo_proxy) as before:
        echo_proxy.hang()
        time.sleep(0.05)
        before.sendall(b"held")
        with pytest.raises(TimeoutError):
            before.recv(16)
        with connect(echo_proxy) as during:  # a new connection is accepted too
            during.sendall(b"new")
            with pytest.raises(TimeoutError):
                during.recv(16)
            echo_proxy.resume()
            assert during.recv(16) == b"new"
        assert before.recv(16) == b"held"


def test_down_refuses_and_resets_then_up_listens_on_the_same_port(echo_proxy: TcpProxy) -> None:
    port = echo_proxy.port
    sock = connect(echo_proxy)
    sock.sendall(b"a")
    assert sock.recv(4) == b"a"
    echo_proxy.down()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(echo_proxy.address, timeout=1)
    with pytest.raises((ConnectionResetError, BrokenPipeError, TimeoutError)):
        sock.sendall(b"b")
        if not sock.recv(4):
            raise ConnectionResetError("closed")
    sock.close()
    echo_proxy.up()
    assert echo_proxy.port == port
    with connect(echo_proxy) as again:
        again.sendall(b"c")
        assert again.recv(4) == b"c"


def test_rewrite_points_a_database_url_at_the_proxy(echo_proxy: TcpProxy) -> None:
    rewritten = echo_proxy.rewrite("postgresql://user:pw@db.internal:5432/app?options=-csearch_path%3Dx")
    assert rewritten == f"postgresql://user:pw@127.0.0.1:{echo_proxy.port}/app?options=-csearch_path%3Dx"
    assert echo_proxy.rewrite("postgresql://db:5432/app") == f"postgresql://127.0.0.1:{echo_proxy.port}/app"


def _postgres_up() -> bool:
    try:
        psycopg.connect(POSTGRES, connect_timeout=2).close()
        return True
    except psycopg.Error:
        return False


@pytest.mark.skipif(not _postgres_up(), reason="needs the PostgreSQL on 127.0.0.1:5432")
def test_a_hung_postgres_times_out_a_connect_and_stalls_a_query_until_resumed() -> None:
    with TcpProxy("127.0.0.1", 5432).running() as proxy:
        url = proxy.rewrite(POSTGRES)
        with psycopg.connect(url, autocommit=True) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
            proxy.hang()
            started = time.monotonic()
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(url, connect_timeout=1)
            assert time.monotonic() - started < 5
            result: list[object] = []
            query = threading.Thread(target=lambda: result.append(connection.execute("SELECT 2").fetchone()))
            query.start()
            query.join(timeout=0.5)
            assert query.is_alive() and result == []  # no answer while hung
            proxy.resume()
            query.join(timeout=5)
            assert result == [(2,)]
