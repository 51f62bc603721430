"""The catalog's ``observability:`` section as LiteLLM callbacks and the gateway's environment variables.

LiteLLM 1.108.7 does the exporting itself; these are the names it reads (its source, in the venv):
- ``otel`` (``litellm/integrations/opentelemetry.py``, ``OpenTelemetryConfig.from_env``): ``OTEL_EXPORTER``
  (``otlp_http``), ``OTEL_ENDPOINT`` (``/v1/traces`` appended when missing, ``_normalize_otel_endpoint``),
  ``OTEL_HEADERS`` (``name=value,name=value``, split by ``_get_headers_dictionary``), ``OTEL_SERVICE_NAME``,
  ``OTEL_ENVIRONMENT_NAME``. A caller's W3C ``traceparent`` header becomes the parent of the gateway's spans
  (``get_traceparent_from_header``), so the bot's trace and the gateway's are one.
- ``langfuse_otel`` (``litellm/integrations/langfuse/langfuse_otel.py``): ``LANGFUSE_PUBLIC_KEY``,
  ``LANGFUSE_SECRET_KEY``, ``LANGFUSE_HOST``; it exports OTLP to ``<host>/api/public/otel`` with Basic auth,
  needing no Langfuse SDK (LiteLLM's plain ``langfuse`` callback imports the ``langfuse`` package, which the
  gateway image does not carry).
- ``litellm_settings.turn_off_message_logging`` redacts prompts and answers before any callback sees them
  (``OpenTelemetry._resolve_capture_mode``: it forces ``NO_CONTENT``).

Keys and headers are never in the rendered config: they are Secret Manager secrets the deployment passes as
variables, like the provider keys.
"""

from __future__ import annotations

from infra.catalog import StackSpec
from infra.catalog.models import Observability

OTEL_CALLBACK = "otel"
LANGFUSE_CALLBACK = "langfuse_otel"
#: the service name the gateway's spans carry (a trace backend groups by it); the bot's are ``llmstack-bot``
GATEWAY_SERVICE_NAME = "llmstack-gateway"
OTLP_HEADERS_ENV = "OTEL_HEADERS"
LANGFUSE_PUBLIC_KEY_ENV = "LANGFUSE_PUBLIC_KEY"
LANGFUSE_SECRET_KEY_ENV = "LANGFUSE_SECRET_KEY"


def trace_callbacks(observability: Observability) -> list[str]:
    """LiteLLM's built-in callbacks the section turns on, in the order LiteLLM should call them."""
    return [
        *([OTEL_CALLBACK] if observability.otlp is not None else []),
        *([LANGFUSE_CALLBACK] if observability.langfuse is not None else []),
    ]


def redacts_content(observability: Observability) -> bool:
    """Whether the config tells LiteLLM to keep prompts and answers out of what its callbacks send.

    Rendered in every config, exporters or not: the gateway's own per-request records read the same setting
    (``llmstack_gateway/content.py``), so it is the one place the gateway learns ``log_content``, and they log
    content only on an explicit ``false``.
    """
    return not observability.log_content


def gateway_trace_variables(spec: StackSpec) -> dict[str, str]:
    """Plain (non-secret) variables the gateway needs for the section: exporter, endpoints, names."""
    observability = spec.catalog.observability
    out: dict[str, str] = {}
    if observability.otlp is not None:
        out.update(
            {
                "OTEL_EXPORTER": "otlp_http",
                "OTEL_ENDPOINT": observability.otlp.endpoint,
                "OTEL_SERVICE_NAME": GATEWAY_SERVICE_NAME,
                "OTEL_ENVIRONMENT_NAME": spec.name,
                # without it a request that carries no traceparent gets no litellm_request span: LiteLLM sets the
                # call's attributes on its proxy-request span, which has already ended by then, so group,
                # tokens and cost are dropped ("Setting attribute on ended span"; measured with 1.108.7,
                # opentelemetry.py async_log_success_event, should_create_primary_span)
                "USE_OTEL_LITELLM_REQUEST_SPAN": "true",
            }
        )
    if observability.langfuse is not None:
        out["LANGFUSE_HOST"] = observability.langfuse.host
        # Langfuse's "environment" filter (read by LiteLLM's langfuse_otel.py, _set_langfuse_specific_attributes)
        out["LANGFUSE_TRACING_ENVIRONMENT"] = spec.name
    return out


def gateway_trace_secrets(spec: StackSpec) -> dict[str, str]:
    """Environment variable -> Secret Manager secret id, for every credential the section names."""
    observability = spec.catalog.observability
    out: dict[str, str] = {}
    if observability.otlp is not None and observability.otlp.headers_secret is not None:
        out[OTLP_HEADERS_ENV] = observability.otlp.headers_secret
    if observability.langfuse is not None:
        out[LANGFUSE_PUBLIC_KEY_ENV] = observability.langfuse.public_key_secret
        out[LANGFUSE_SECRET_KEY_ENV] = observability.langfuse.secret_key_secret
    return out


def bot_trace_variables(spec: StackSpec) -> dict[str, str]:
    """The bot's own spans (services/telegram-bot/llmstack_bot/tracing.py) go to the same OTLP collector, through
    the OpenTelemetry SDK's variables. ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` is used as given (the SDK appends no
    path to it, unlike ``OTEL_EXPORTER_OTLP_ENDPOINT``), so it gets ``/v1/traces`` here as LiteLLM adds it."""
    otlp = spec.catalog.observability.otlp
    if otlp is None:
        return {}
    endpoint = otlp.endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    return {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": "llmstack-bot"}


def bot_trace_secrets(spec: StackSpec) -> dict[str, str]:
    """Environment variable -> secret id for the bot's exporter: the same headers secret as the gateway's."""
    otlp = spec.catalog.observability.otlp
    if otlp is None or otlp.headers_secret is None:
        return {}
    return {"OTEL_EXPORTER_OTLP_HEADERS": otlp.headers_secret}
