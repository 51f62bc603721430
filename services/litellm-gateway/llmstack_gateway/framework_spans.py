"""The gateway's traces are LiteLLM's spans only: FastAPI's own request spans are turned off in the proxy's app.

FastAPI 0.165 traces every request by itself ("native telemetry", ``fastapi/telemetry/_asgi.py``) as soon as a
global OpenTelemetry tracer provider exists, and LiteLLM's ``otel`` callback sets one
(``OpenTelemetry._init_tracing``). Each completion then exported four framework spans (``POST
/v1/chat/completions``, ``fastapi.dependencies``, ``fastapi.endpoint``, ``fastapi.serialization``) next to
LiteLLM's ``litellm_request``, which is the one carrying what issue 12 asks a trace for (group, deployment,
tokens, cost) and which already continues the caller's W3C ``traceparent`` (the bot's gateway-call span is its
parent, so the time spent in the gateway is still visible from the caller's side).

Measured with ``bench/observability_bench.py``'s setup (one worker, OTLP to a collector on loopback, one run): gateway CPU
per request with the ``otel`` callback ÷ without was 1.09× with FastAPI's spans, 1.05× with only its operation
spans off, 1.01× with its telemetry off. Five spans per request were one.

LiteLLM builds the app (``litellm.proxy.proxy_server.app``), so FastAPI's ``telemetry=`` argument cannot be
passed; the settings live in the dict ``FastAPI.__init__`` keeps as ``app._telemetry``, which its middleware reads
on every request (``NativeTelemetry.enabled``). That is FastAPI's private attribute: fastapi is pinned
(constraints.txt) and ``tests/integration/test_gateway_traces.py`` asserts that only ``litellm_request`` spans
arrive, so an upgrade that moves it fails there rather than silently exporting framework spans again.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("llmstack.traces")

#: FastAPI's ``TelemetryConfig`` keys (``fastapi/telemetry/_api.py``) that make it record anything
QUIET: dict[str, bool] = {"tracing": False, "metrics": False, "logs": False, "operation_spans": False}


def quiet_framework_spans(app: Any) -> bool:
    """Turn FastAPI's native telemetry off in ``app``; False (and a warning) when this FastAPI keeps no such dict."""
    settings = getattr(app, "_telemetry", None)
    if not isinstance(settings, dict):
        log.warning(
            "FastAPI keeps no telemetry settings on the app (not fastapi 0.165?): its request spans, if any, "
            "are exported next to LiteLLM's"
        )
        return False
    settings.update(QUIET)
    return True
