"""A small OTLP/HTTP trace receiver on 127.0.0.1 that decodes what exporters send with ``opentelemetry-proto``.

Behaviour, and where it comes from (OTLP specification, opentelemetry-proto ``docs/specification.md``,
"OTLP/HTTP"):
- ``POST /v1/traces`` with a binary protobuf ``ExportTraceServiceRequest`` (``Content-Type:
  application/x-protobuf``) or its proto3 JSON mapping (``application/json``); any other type is refused
  with 415 Unsupported Media Type.
- ``Content-Encoding: gzip`` is accepted (servers MUST support gzip and none).
- Success is 200 with an ``ExportTraceServiceResponse`` in the request's encoding; a body that does not decode
  is a 400 (not retryable, so the exporter drops the batch rather than retrying forever).
- Headers an exporter sends (``OTEL_EXPORTER_OTLP_HEADERS``) are where collectors behind a vendor check a key:
  ``required_headers`` makes the receiver answer 401 without them, as such a gateway does.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from infra.simulator.loopback import serve


def any_value(value: AnyValue) -> Any:
    """An OTLP attribute value as Python (opentelemetry-proto ``common/v1/common.proto``, ``AnyValue``)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


@dataclass(frozen=True)
class ReceivedSpan:
    """One decoded span: ids as lower-case hex, as W3C ``traceparent`` writes them."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    attributes: Mapping[str, Any]
    resource: Mapping[str, Any]


@dataclass
class OtlpCollector:
    """Records every span exported to it; ``required_headers`` (lower-case names) answer 401 when missing."""

    path: str = "/v1/traces"
    required_headers: Mapping[str, str] = field(default_factory=dict)
    spans: list[ReceivedSpan] = field(default_factory=list)
    #: each export request's headers, lower-cased names (what an exporter sent, to assert on)
    requests: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    def authorized(self, headers: Mapping[str, str]) -> bool:
        return all(headers.get(name) == value for name, value in self.required_headers.items())

    def record(self, request: ExportTraceServiceRequest) -> None:
        with self._lock:
            for resource_spans in request.resource_spans:
                resource = {a.key: any_value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        self.spans.append(
                            ReceivedSpan(
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                name=span.name,
                                attributes={a.key: any_value(a.value) for a in span.attributes},
                                resource=resource,
                            )
                        )

    def wait_for(
        self, predicate: Callable[[ReceivedSpan], bool], timeout_s: float = 10.0
    ) -> list[ReceivedSpan]:
        """The spans matching ``predicate`` once there is at least one (exporters batch: they arrive late)."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self._lock:
                found = [s for s in self.spans if predicate(s)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def handler(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with collector._lock:
                    collector.requests.append(headers)
                if self.path != collector.path:
                    self._answer(404, "text/plain", b"not found")
                    return
                if not collector.authorized(headers):
                    with collector._lock:
                        collector.refused += 1
                    self._answer(401, "text/plain", b"unauthorized")
                    return
                if "gzip" in headers.get("content-encoding", ""):
                    body = gzip.decompress(body)
                content_type = headers.get("content-type", "").split(";")[0].strip()
                request = ExportTraceServiceRequest()
                try:
                    if content_type == "application/x-protobuf":
                        request.ParseFromString(body)
                        reply = ExportTraceServiceResponse().SerializeToString()
                    elif content_type == "application/json":
                        json_format.Parse(body, request)
                        reply = json_format.MessageToJson(ExportTraceServiceResponse()).encode()
                    else:
                        self._answer(415, "text/plain", b"unsupported media type")
                        return
                except Exception:  # any decode failure is the client's 400
                    self._answer(400, "text/plain", b"cannot decode ExportTraceServiceRequest")
                    return
                collector.record(request)
                self._answer(200, content_type, reply)

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return None

        return Handler

    @contextmanager
    def running(self) -> Iterator[Self]:
        with serve(self.handler()) as server:
            self._server = server
            try:
                yield self
            finally:
                self._server = None
