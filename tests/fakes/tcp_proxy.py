"""A loopback TCP proxy to put in front of a real server (Postgres) and make the network misbehave.

``hang()`` is a database that stops answering: connections are still accepted (the kernel completes the
handshake, as it does for a stalled server or a silent network partition), but nothing is forwarded either
way, so a client waits until its own timeout. ``resume()`` forwards again, held bytes first, like a partition
that heals. ``down()`` stops listening and resets every connection (connection refused, as for a database that
is not there yet); ``up()`` listens on the same port again.

    with TcpProxy("127.0.0.1", 5432).running() as proxy:
        url = proxy.rewrite("postgresql://postgres@127.0.0.1:5432/test")
        proxy.hang(); ...; proxy.resume()

The proxy runs its own asyncio loop in a daemon thread, so it serves threads, subprocesses and other event
loops alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

_CHUNK = 65536


@dataclass
class TcpProxy:
    target_host: str
    target_port: int
    #: the port the proxy listens on (127.0.0.1); 0 picks a free one at start and keeps it across down()/up()
    port: int = 0
    #: connections accepted so far, and how many are open now
    accepted: int = 0
    open_connections: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _server: asyncio.Server | None = None
    _flowing: asyncio.Event | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return "127.0.0.1", self.port

    def rewrite(self, url: str) -> str:
        """``url`` with its host and port replaced by the proxy's (for DATABASE_URL-style URLs)."""
        parts = urllib.parse.urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    # --- faults -------------------------------------------------------------------------------------------

    def hang(self) -> None:
        """Keep accepting connections, forward nothing in either direction until ``resume()``."""
        self._call(lambda: self._event().clear())

    def resume(self) -> None:
        """Forward again; bytes held during the hang go first."""
        self._call(lambda: self._event().set())

    def down(self) -> None:
        """Stop listening (new connections are refused) and reset the open ones."""
        self._run(self._down())

    def up(self) -> None:
        """Listen again on the same port."""
        self._run(self._listen())

    # --- lifecycle ----------------------------------------------------------------------------------------

    @contextmanager
    def running(self) -> Iterator[TcpProxy]:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        try:
            self._run(self._start())
            yield self
        finally:
            with contextlib.suppress(Exception):
                self._run(self._down())
                self._run(self._cancel_the_rest())
            loop.call_soon_threadsafe(loop.stop)
            self._thread.join(timeout=5)
            loop.close()
            self._loop = None

    def _call(self, action: Any) -> None:
        assert self._loop is not None, "the proxy is not running"
        self._loop.call_soon_threadsafe(action)

    def _run(self, coroutine: Any) -> Any:
        assert self._loop is not None, "the proxy is not running"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def _event(self) -> asyncio.Event:
        assert self._flowing is not None
        return self._flowing

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        await self._listen()

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # a reset, as when the database host goes away
        self._writers.clear()
        if server is not None:
            await server.wait_closed()

    async def _cancel_the_rest(self) -> None:
        # connections still waiting out a hang: ended with the proxy instead of left pending
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_connections += 1
        self._writers.add(client_writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            # a hung database: the connection is accepted, but nothing reaches the server yet
            await self._event().wait()
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.target_host, self.target_port
            )
            self._writers.add(upstream_writer)
            await asyncio.gather(
                self._pump(client_reader, upstream_writer), self._pump(upstream_reader, client_writer)
            )
        except (ConnectionError, OSError):
            pass
        finally:
            self.open_connections -= 1
            for writer in (client_writer, upstream_writer):
                if writer is not None:
                    self._writers.discard(writer)
                    writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(_CHUNK):
                await self._event().wait()  # held, not dropped, while hung
                writer.write(data)
                await writer.drain()
        finally:
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof():
                    writer.write_eof()
