"""The OTLP and Langfuse fakes against the real OpenTelemetry exporter (opentelemetry-exporter-otlp-proto-http),
and their refusals, so a test that passes through them would pass against the real receivers."""

from __future__ import annotations

import base64
import gzip

import httpx
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.fakes.langfuse_api import LangfuseApi
from tests.fakes.otlp_collector import OtlpCollector


def export_one_span(
    endpoint: str, headers: dict[str, str], compression: Compression = Compression.NoCompression
) -> str:
    """Export one span with the SDK's own exporter; returns its trace id as hex."""
    provider = TracerProvider(resource=Resource.create({"service.name": "fake-test"}))
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, compression=compression, timeout=5)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("work") as span:
        span.set_attribute("llm.group", "gemini-flash")
        span.set_attribute("tokens", 42)
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def test_collector_decodes_the_sdk_exporters_spans_gzip_included() -> None:
    with OtlpCollector(required_headers={"x-api-key": "k1"}).running() as collector:
        trace_id = export_one_span(collector.url, {"x-api-key": "k1"}, Compression.Gzip)
        (span,) = collector.wait_for(lambda s: s.trace_id == trace_id, timeout_s=2)
        assert span.name == "work"
        assert span.attributes == {"llm.group": "gemini-flash", "tokens": 42}
        assert span.resource["service.name"] == "fake-test"
        assert collector.requests[-1]["content-encoding"] == "gzip"


def test_collector_refuses_a_missing_key_and_other_media_types() -> None:
    with OtlpCollector(required_headers={"x-api-key": "k1"}).running() as collector:
        export_one_span(collector.url, {"x-api-key": "wrong"})
        assert collector.refused == 1 and collector.spans == []
        text = httpx.post(
            collector.url, content=b"x", headers={"x-api-key": "k1", "content-type": "text/plain"}
        )
        assert text.status_code == 415
        bad = httpx.post(
            collector.url,
            content=b"\xff\xff",
            headers={"x-api-key": "k1", "content-type": "application/x-protobuf"},
        )
        assert bad.status_code == 400


def test_langfuse_wants_basic_auth_of_both_keys() -> None:
    with LangfuseApi(public_key="pk-lf-a", secret_key="sk-lf-b").running() as langfuse:
        good = "Basic " + base64.b64encode(b"pk-lf-a:sk-lf-b").decode()
        trace_id = export_one_span(langfuse.url, {"Authorization": good})
        assert langfuse.wait_for(lambda s: s.trace_id == trace_id, timeout_s=2)
        export_one_span(
            langfuse.url, {"Authorization": "Basic " + base64.b64encode(b"pk-lf-a:nope").decode()}
        )
        assert langfuse.refused == 1


def test_langfuse_refusals_name_the_problem() -> None:
    with LangfuseApi().running() as langfuse:
        auth = "Basic " + base64.b64encode(f"{langfuse.public_key}:{langfuse.secret_key}".encode()).decode()
        future = httpx.post(
            langfuse.url,
            content=gzip.compress(b""),
            headers={"authorization": auth, "x-langfuse-ingestion-version": "5"},
        )
        assert future.status_code == 400
        assert 'Maximum supported: \\"4\\"' in future.text
        wrong_type = httpx.post(
            langfuse.url, content=b"{}", headers={"authorization": auth, "content-type": "text/plain"}
        )
        assert wrong_type.status_code == 400
        assert "Invalid content type" in wrong_type.text
        empty = httpx.post(
            langfuse.url, content=b"{}", headers={"authorization": auth, "content-type": "application/json"}
        )
        assert (empty.status_code, empty.json()) == (200, {})
