"""The bot's spans: webhook -> turn -> gateway call -> Telegram send, one trace the gateway's spans join.

Export is OpenTelemetry's OTLP/HTTP exporter configured by the SDK's own variables (OpenTelemetry SDK environment
variable specification): ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``/v1/traces``
appended), ``OTEL_EXPORTER_OTLP_HEADERS`` for the collector's key, ``OTEL_BSP_SCHEDULE_DELAY``. Without an
endpoint nothing is recorded and no header is sent.

The gateway call carries a W3C ``traceparent`` (TraceContextTextMapPropagator); LiteLLM's ``otel`` callback makes
it the parent of its own spans (``OpenTelemetry.get_traceparent_from_header``), so one trace runs from Telegram's
delivery to the provider's answer. The webhook stores an update and answers; the turn runs later in the worker.
The webhook's span context is kept in memory by update id (bounded), so a turn in the same process continues the
webhook's trace; a turn resumed by another process after a restart starts a trace of its own.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICE_NAME = "llmstack-bot"
#: webhook span contexts kept for turns not yet started; more than this in the inbox means a backlog, whose
#: oldest turns start fresh traces rather than the process growing without bound
MAX_REMEMBERED = 10_000
_PROPAGATOR = TraceContextTextMapPropagator()


def exporter_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


class BotTracing:
    def __init__(self, exporter: SpanExporter | None = None) -> None:
        """``exporter`` None: the OTLP/HTTP exporter when the environment names an endpoint, else no tracing."""
        self._provider: TracerProvider | None = None
        if exporter is None and exporter_configured():
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        if exporter is not None:
            resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)})
            self._provider = TracerProvider(resource=resource)
            self._provider.add_span_processor(BatchSpanProcessor(exporter))
            self.tracer: trace.Tracer = self._provider.get_tracer("llmstack_bot")
        else:
            self.tracer = trace.NoOpTracer()
        self._webhooks: OrderedDict[int, SpanContext] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self._provider is not None

    @contextmanager
    def webhook(self) -> Iterator[Span]:
        with self.tracer.start_as_current_span("telegram webhook", kind=SpanKind.SERVER) as span:
            yield span

    def remember(self, update_id: int, span: Span) -> None:
        """The webhook stored ``update_id``: its turn continues this span's trace."""
        if not span.get_span_context().is_valid:
            return
        self._webhooks[update_id] = span.get_span_context()
        while len(self._webhooks) > MAX_REMEMBERED:
            self._webhooks.popitem(last=False)

    def remember_current(self, update_id: int) -> None:
        self.remember(update_id, trace.get_current_span())

    @contextmanager
    def turn(self, update_id: int, attempt: int) -> Iterator[Span]:
        parent = self._webhooks.pop(update_id, None)
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent is not None else None
        with self.tracer.start_as_current_span(
            "turn", context=context, attributes={"telegram.update_id": update_id, "llmstack.attempt": attempt}
        ) as span:
            yield span

    @contextmanager
    def gateway_call(self, route: str) -> Iterator[dict[str, str]]:
        """A client span for one chat completion; yields the headers that carry it to the gateway."""
        with self.tracer.start_as_current_span(
            "gateway chat.completions", kind=SpanKind.CLIENT, attributes={"llmstack.route": route}
        ):
            headers: dict[str, str] = {}
            _PROPAGATOR.inject(headers)
            yield headers

    @contextmanager
    def telegram_call(self, method: str) -> Iterator[Span]:
        """A client span around one Bot API call (telegram_calls.TelegramCalls). A call that raises leaves it an
        error: the SDK's span (``set_status_on_exception``) sets ERROR, "<exception type>: <message>", on exit."""
        with self.tracer.start_as_current_span(f"telegram {method}", kind=SpanKind.CLIENT) as span:
            yield span

    def shutdown(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()


def current_trace_headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) for the span current here; empty when nothing is recorded."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers
