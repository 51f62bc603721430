"""One way to run a stand-in HTTP server on 127.0.0.1 for as long as a ``with`` block: bounded, always stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server(ThreadingHTTPServer):
    # socketserver's listen backlog is 5: a burst of connections (a worker pool of 16) overflows it, and each
    # dropped SYN costs its client a 1 s retransmit, a delay no real server behind a proxy would add
    request_queue_size = 128


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler], port: int = 0, host: str = "127.0.0.1"
) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` on ``host`` (``port`` 0: any free one) in a daemon thread until the block ends."""
    server = _Server((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
