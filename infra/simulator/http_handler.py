"""How a simulated reply goes on the wire: delays, hangs, one HTTP chunk per streamed frame, faults mid-stream.

A client hanging up is normal (a gateway timing out, a user closing a chat): it ends that request quietly and is
logged, never printed as a traceback.
"""

from __future__ import annotations

import select
import socket
import time
from contextlib import suppress
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from infra.simulator.faults import MAX_HANG_S, Behavior
from infra.simulator.reply import Reply

if TYPE_CHECKING:
    from infra.simulator.server import LoggedRequest, ProviderSimulator

#: the errors a socket raises when its peer has gone: an ordinary end of a request, not a failure
HANGUP_ERRORS = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def _peer_left(connection: socket.socket) -> bool:
    """True once the client has closed its end: the socket reads as EOF (or reset) without blocking."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def handler_for(simulator: ProviderSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, like a real provider
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

        def handle(self) -> None:
            # a client that resets its connection while we read its next request is a normal end; the stock
            # handler lets it reach socketserver, which prints a traceback
            try:
                super().handle()
            except HANGUP_ERRORS:
                self.close_connection = True

        def finish(self) -> None:
            with suppress(*HANGUP_ERRORS):
                super().finish()

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            self._serve(*simulator.handle(self.path, self.rfile.read(length)))

        def do_GET(self) -> None:
            self._serve(*simulator.handle(self.path, b""))

        def log_message(self, *args: Any) -> None:
            return None

        def _wait(self, seconds: float) -> bool:
            """Wait up to ``seconds`` (ends early when the simulator stops); False if the client hung up."""
            deadline = time.monotonic() + seconds
            while (left := deadline - time.monotonic()) > 0:
                if simulator.stopping.wait(min(left, 0.05)):
                    return not _peer_left(self.connection)
                if _peer_left(self.connection):
                    return False
            return True

        def _serve(self, reply: Reply, behavior: Behavior, entry: LoggedRequest | None) -> None:
            ok = reply.status == 200 and behavior.answers
            delay = behavior.delay_ms if (ok and behavior.mode == "slow") or behavior.errors_too else 0.0
            if ok:
                delay = max(delay, simulator.healthy_delay_ms)
            if reply.status == 504 and not self._wait(MAX_HANG_S):
                return self._hung_up(entry)
            if delay and not self._wait(delay / 1000):
                return self._hung_up(entry)
            try:
                if reply.frames is None:
                    self._send_whole(reply, entry)
                else:
                    self._send_stream(reply, behavior, entry)
            except HANGUP_ERRORS:
                self._hung_up(entry)
            return None

        def _hung_up(self, entry: LoggedRequest | None) -> None:
            simulator.record(entry, disconnected=True)
            self.close_connection = True

        def _send_whole(self, reply: Reply, entry: LoggedRequest | None) -> None:
            payload = reply.encoded_body()
            self.send_response(reply.status)
            self.send_header("content-type", reply.media_type)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            simulator.record(entry, finished=True)

        def _send_stream(self, reply: Reply, behavior: Behavior, entry: LoggedRequest | None) -> None:
            """Chunked transfer encoding, one HTTP chunk per frame, written as it is produced."""
            self.send_response(reply.status)
            self.send_header("content-type", reply.media_type)
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            per_delta = behavior.chunk_delay_ms or (
                behavior.delay_ms if behavior.mode == "slow" else simulator.healthy_chunk_delay_ms
            )
            sent = 0
            for written, frame in enumerate(reply.frames or []):
                if frame.content and reply.error_frame is not None and sent >= behavior.stall_after:
                    error = reply.error_frame(written).data
                    self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(error), error))
                    simulator.record(entry, stream_error=True)
                    return None
                if frame.content:
                    if behavior.mode == "stall" and sent >= behavior.stall_after:
                        # never finishes: ends when the client leaves, or unfinished when the simulator stops
                        if not self._wait(MAX_HANG_S):
                            return self._hung_up(entry)
                        self.close_connection = True
                        return None
                    if per_delta and not self._wait(per_delta / 1000):
                        return self._hung_up(entry)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(frame.data), frame.data))
                if frame.content:
                    sent += 1
                    simulator.record(entry, deltas_sent=sent)
            self.wfile.write(b"0\r\n\r\n")
            simulator.record(entry, finished=True)
            return None

    return Handler
