"""The trace receivers of tests/fakes (an OTLP collector, Langfuse's OTel endpoint) in a process of their own.

Why not in the benchmark's process: decoding every exported span there took the interpreter lock from the
threads that time the requests, so a traced gateway looked slower than it is (a real collector runs on another
host). ``spawn``, not ``fork``: the benchmark has threads running by then.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

#: the repository's root, where ``tests.fakes`` is imported from (the spawned process inherits ``sys.path``)
ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: the span LiteLLM's callbacks open per model call (litellm/integrations/opentelemetry.py)
REQUEST_SPAN = "litellm_request"
START_TIMEOUT_S = 60


@dataclass(frozen=True)
class Endpoints:
    otlp_base_url: str
    langfuse_host: str
    langfuse_public_key: str
    langfuse_secret_key: str


@dataclass(frozen=True)
class Received:
    otlp_request_spans: int
    langfuse_request_spans: int
    #: exports either receiver answered with an error (a wrong key, a body that did not decode)
    refused: int


class Receivers:
    def __init__(self, connection: Connection, endpoints: Endpoints) -> None:
        self._connection = connection
        self.endpoints = endpoints

    def received(self) -> Received:
        self._connection.send("count")
        answer: Received = self._connection.recv()
        return answer


def _serve(connection: Connection) -> None:
    from tests.fakes.langfuse_api import LangfuseApi
    from tests.fakes.otlp_collector import OtlpCollector

    with OtlpCollector().running() as collector, LangfuseApi().running() as langfuse:
        connection.send(
            Endpoints(collector.base_url, langfuse.host, langfuse.public_key, langfuse.secret_key)
        )
        while connection.recv() == "count":
            connection.send(
                Received(
                    sum(span.name == REQUEST_SPAN for span in list(collector.spans)),
                    sum(span.name == REQUEST_SPAN for span in list(langfuse.spans)),
                    collector.refused + langfuse.refused,
                )
            )


@contextmanager
def receivers_in_a_process() -> Iterator[Receivers]:
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(theirs,), daemon=True)
    process.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ours.poll(0.1):
            if not process.is_alive():
                raise RuntimeError(f"the trace receivers' process exited with {process.exitcode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the trace receivers did not start within {START_TIMEOUT_S} s")
        yield Receivers(ours, ours.recv())
    finally:
        if process.is_alive():
            ours.send("stop")
            process.join(10)
        if process.is_alive():
            process.kill()
            process.join(10)
