"""FastAPI's native telemetry off in an app, as framework_spans.py does to the proxy's (the real FastAPI class)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI
from llmstack_gateway.framework_spans import quiet_framework_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient


def traced_app(provider: TracerProvider) -> FastAPI:
    # ``tracer_provider`` is FastAPI's own way to trace without a global provider (TelemetryConfig), which the
    # proxy gets from LiteLLM's global one; either makes FastAPI record spans
    app = FastAPI(telemetry={"tracer_provider": provider})

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    return app


def test_a_quieted_app_records_no_span_where_it_did_before() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = traced_app(provider)
    with TestClient(app) as client:
        assert client.get("/ping").status_code == 200
        assert exporter.get_finished_spans(), "FastAPI no longer traces by itself: framework_spans.py is moot"
        exporter.clear()
        assert quiet_framework_spans(app) is True
        assert client.get("/ping").status_code == 200
    assert exporter.get_finished_spans() == ()


def test_an_app_without_the_settings_is_left_alone_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llmstack.traces"):
        assert quiet_framework_spans(object()) is False
    assert "exported next to LiteLLM's" in caplog.text
