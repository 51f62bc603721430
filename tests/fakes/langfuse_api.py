"""Langfuse's OpenTelemetry ingestion endpoint, as LiteLLM's ``langfuse_otel`` callback talks to it.

Behaviour, and where it comes from:
- the route is ``POST <host>/api/public/otel/v1/traces``: LiteLLM 1.108.7
  ``litellm/integrations/langfuse/langfuse_otel.py`` (``_build_langfuse_otel_config`` appends
  ``/api/public/otel``, ``OpenTelemetry._normalize_otel_endpoint`` then ``/v1/traces``), and Langfuse's own
  handler ``web/src/pages/api/public/otel/v1/traces/index.ts`` (langfuse/langfuse);
- authentication is HTTP Basic with ``<public key>:<secret key>`` (``_get_langfuse_authorization_header``;
  Langfuse's ``createAuthedProjectAPIRoute``): anything else is 401;
- the body is an OTLP ``ExportTraceServiceRequest`` as protobuf or JSON, gzip allowed, any other content type
  a 400 (Langfuse's handler; note: 400, where a plain OTLP collector answers 415);
- ``x-langfuse-ingestion-version`` above 4 is a 400 naming the maximum (same handler); LiteLLM sends 4;
- success is ``200 {}`` (the handler returns the queue's result, a JSON object).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.otlp_collector import OtlpCollector

OTEL_PATH = "/api/public/otel/v1/traces"


@dataclass
class LangfuseApi(OtlpCollector):
    public_key: str = "pk-lf-test"
    secret_key: str = "sk-lf-test"
    path: str = OTEL_PATH
    required_headers: Mapping[str, str] = field(default_factory=dict)

    def authorized(self, headers: Mapping[str, str]) -> bool:
        expected = base64.b64encode(f"{self.public_key}:{self.secret_key}".encode()).decode()
        return headers.get("authorization") == f"Basic {expected}"

    @property
    def host(self) -> str:
        """What ``LANGFUSE_HOST`` names: the base URL, without the OTel path."""
        return self.base_url

    def handler(self) -> type[BaseHTTPRequestHandler]:
        collector_handler = super().handler()

        class Handler(collector_handler):  # type: ignore[valid-type,misc]
            def do_POST(self) -> None:  # noqa: N802 - http.server's handler name
                version = self.headers.get("x-langfuse-ingestion-version")
                if version is not None and (not version.isdigit() or int(version) > 4):
                    self._answer(
                        400,
                        "application/json",
                        f'{{"error": "Unsupported x-langfuse-ingestion-version: \\"{version}\\". '
                        'Maximum supported: \\"4\\"."}'.encode(),
                    )
                    return
                content_type = self.headers.get("content-type", "")
                if "application/json" not in content_type and "application/x-protobuf" not in content_type:
                    self._answer(400, "application/json", b'{"error": "Invalid content type"}')
                    return
                super().do_POST()

            def _answer(self, status: int, content_type: str, body: bytes) -> None:
                if status == 200:  # Langfuse answers a JSON object, whatever the request's encoding
                    content_type, body = "application/json", b"{}"
                super()._answer(status, content_type, body)

            def log_message(self, *args: Any) -> None:
                return None

        return Handler
