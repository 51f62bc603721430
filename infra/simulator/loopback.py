"""One way to run a stand-in HTTP server on 127.0.0.1 for as long as a ``with`` block: bounded, always stopped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serve(
    handler: type[BaseHTTPRequestHandler], port: int = 0, host: str = "127.0.0.1"
) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` on ``host`` (``port`` 0: any free one) in a daemon thread until the block ends."""
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
