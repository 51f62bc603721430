"""The bot's metrics, spans and /spend text, from real parts: aiogram against the fake Bot API, the SDK's OTLP
exporter against the fake collector, a loopback /budget shaped like the gateway's (llmstack_gateway/budget_api.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from bot_harness import TOKEN
from llmstack_bot.metrics import BotMetrics, scrape_allowed
from llmstack_bot.routers.spend import SpendUnavailable, fetch_budget, spend_text
from llmstack_bot.telegram import make_bot
from llmstack_bot.telegram_calls import TelegramCalls
from llmstack_bot.tracing import BotTracing
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from infra.simulator.loopback import serve
from infra.simulator.telegram import FakeTelegram
from tests.fakes.otlp_collector import OtlpCollector

#: the shape of the gateway's GET /budget answer (services/litellm-gateway/llmstack_gateway/budget_api.py)
BUDGET = {
    "stack": "dev",
    "day": "2026-12-01",
    "timezone": "UTC",
    "resets_at": "2026-12-02T00:00:00+00:00",
    "cap_usd": 2.0,
    "spent_usd": 0.5,
    "held_usd": 0.01,
    "remaining_usd": 1.49,
    "requests": 12,
    "by_group": {"gemini-flash": 0.4, "claude-sonnet": 0.1},
    "by_provider": {"gemini": 0.4, "anthropic": 0.1},
    "by_client": {"bot": 0.5},
    "history": [
        {"day": "2026-12-01", "spent_usd": 0.5, "requests": 12},
        {"day": "2026-11-30", "spent_usd": 2.0, "requests": 40},
    ],
}


def samples(metrics: BotMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counts_and_queue_depth_in_the_exposition() -> None:
    metrics = BotMetrics()
    metrics.updates.labels("accepted").inc(3)
    metrics.updates.labels("duplicate").inc()
    metrics.turns.labels("done").inc(2)
    metrics.reply_latency.labels("done").observe(1.5)
    metrics.set_queue({"pending": 4, "leased": 2, "done": 50, "failed": 1}, in_flight=2)
    got = samples(metrics)
    assert got[("llmstack_bot_updates_total", (("outcome", "accepted"),))] == 3
    assert got[("llmstack_bot_updates_total", (("outcome", "duplicate"),))] == 1
    assert got[("llmstack_bot_turns_total", (("outcome", "done"),))] == 2
    assert got[("llmstack_bot_queue_depth", ())] == 6  # done and failed are not waiting
    assert got[("llmstack_bot_turns_in_flight", ())] == 2
    assert got[("llmstack_bot_reply_latency_seconds_bucket", (("le", "2.0"), ("outcome", "done")))] == 1
    assert got[("llmstack_bot_reply_latency_seconds_bucket", (("le", "1.0"), ("outcome", "done")))] == 0
    # two apps never share a count
    assert ("llmstack_bot_updates_total", (("outcome", "accepted"),)) not in samples(BotMetrics())


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer ", "Bearer wrong-secret", "Basic c2VjcmV0", "bearer the-alerts-secret-xxxxxxxxxx"],
)
def test_scrape_refused_without_the_secret(header: str | None) -> None:
    assert not scrape_allowed(header, "the-alerts-secret-xxxxxxxxxx")


def test_scrape_allowed_with_the_secret_and_never_with_an_empty_one() -> None:
    assert scrape_allowed("Bearer the-alerts-secret-xxxxxxxxxx", "the-alerts-secret-xxxxxxxxxx")
    assert not scrape_allowed("Bearer ", "")


def test_telegram_errors_counted_by_method_and_kind_and_their_spans_marked() -> None:
    """One middleware, both watchers, as app.py wires them; the spans read back through the SDK's own in-memory
    exporter."""
    metrics = BotMetrics()
    exported = InMemorySpanExporter()
    tracing = BotTracing(exported)
    fake = FakeTelegram(TOKEN)

    async def scenario() -> None:
        bot = make_bot(TOKEN, fake.api_base)
        bot.session.middleware(TelegramCalls(metrics, tracing))
        try:
            await bot.send_message(1001, "fine")
            fake.fail("sendMessage", 400, description="Bad Request: can't parse entities")
            with pytest.raises(TelegramBadRequest):
                await bot.send_message(1002, "<b>")
            fake.block(1003)
            with pytest.raises(TelegramForbiddenError):
                await bot.send_message(1003, "hello")
            # last: the fake keeps refusing the method for retry_after seconds, as Telegram does
            fake.fail("sendMessage", 429, retry_after=1)
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(1001, "flood")
        finally:
            await bot.session.close()

    with fake.running():
        asyncio.run(scenario())
    got = samples(metrics)
    errors = {k: v for k, v in got.items() if k[0] == "llmstack_bot_telegram_errors_total"}
    assert errors == {
        ("llmstack_bot_telegram_errors_total", (("kind", "retry_after"), ("method", "sendMessage"))): 1,
        ("llmstack_bot_telegram_errors_total", (("kind", "bad_request"), ("method", "sendMessage"))): 1,
        ("llmstack_bot_telegram_errors_total", (("kind", "forbidden"), ("method", "sendMessage"))): 1,
    }
    tracing.shutdown()  # flushes the batch
    spans = [
        (s.name, s.status.status_code, (s.status.description or "").split(":")[0])
        for s in exported.get_finished_spans()
    ]
    assert spans == [
        ("telegram sendMessage", StatusCode.UNSET, ""),
        ("telegram sendMessage", StatusCode.ERROR, "TelegramBadRequest"),
        ("telegram sendMessage", StatusCode.ERROR, "TelegramForbiddenError"),
        ("telegram sendMessage", StatusCode.ERROR, "TelegramRetryAfter"),
    ]


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector().running() as running:
        yield running


def test_spans_webhook_turn_gateway_and_telegram_form_one_trace(collector: OtlpCollector) -> None:
    tracing = BotTracing(OTLPSpanExporter(endpoint=collector.url, timeout=5))
    fake = FakeTelegram(TOKEN)
    seen_by_gateway: dict[str, str] = {}

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen_by_gateway.update({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    async def scenario(gateway_url: str) -> None:
        bot = make_bot(TOKEN, fake.api_base)
        bot.session.middleware(TelegramCalls(tracing))
        try:
            with tracing.webhook() as webhook:
                tracing.remember(77, webhook)
            # later, in the worker
            with tracing.turn(77, attempt=1):
                with tracing.gateway_call("balanced") as headers:
                    async with httpx.AsyncClient() as client:
                        await client.post(gateway_url, headers=headers, json={})
                await bot.send_message(1001, "answer")
        finally:
            await bot.session.close()

    with fake.running(), serve(Gateway) as server:
        asyncio.run(scenario(f"http://127.0.0.1:{server.server_address[1]}/v1/chat/completions"))
    tracing.shutdown()  # flushes the batch
    spans = {s.name: s for s in collector.spans}
    assert set(spans) == {"telegram webhook", "turn", "gateway chat.completions", "telegram sendMessage"}
    assert len({s.trace_id for s in spans.values()}) == 1
    assert spans["turn"].parent_span_id == spans["telegram webhook"].span_id
    assert spans["gateway chat.completions"].parent_span_id == spans["turn"].span_id
    assert spans["telegram sendMessage"].parent_span_id == spans["turn"].span_id
    assert spans["turn"].attributes == {"telegram.update_id": 77, "llmstack.attempt": 1}
    assert spans["turn"].resource["service.name"] == "llmstack-bot"
    # the gateway receives the call's span as its parent (W3C traceparent: version-trace-parent-flags)
    gateway_span = spans["gateway chat.completions"]
    version, trace_id, parent_id, flags = seen_by_gateway["traceparent"].split("-")
    assert (version, trace_id, parent_id) == ("00", gateway_span.trace_id, gateway_span.span_id)
    assert int(flags, 16) & 0x01  # sampled: the gateway records its part too


def test_a_turn_without_its_webhook_starts_its_own_trace(collector: OtlpCollector) -> None:
    tracing = BotTracing(OTLPSpanExporter(endpoint=collector.url, timeout=5))
    with tracing.turn(5, attempt=2):
        pass
    tracing.shutdown()
    (turn,) = collector.spans
    assert turn.parent_span_id == ""


def test_no_endpoint_no_spans_and_no_traceparent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    tracing = BotTracing()
    assert not tracing.enabled
    with tracing.turn(1, attempt=1), tracing.gateway_call("balanced") as headers:
        assert headers == {}


def test_spend_text_shows_today_the_split_and_bars_against_the_cap() -> None:
    text = spend_text({**BUDGET, "stack": "dev<script>"})
    assert text.startswith("<b>Spend</b>\n<pre>")
    assert "dev&lt;script&gt; on 2026-12-01 (UTC)" in text
    assert "spent $0.5000 of $2 (25% of the cap), $0.0100 held" in text
    assert "12 request(s); resets at 2026-12-02T00:00:00+00:00" in text
    assert "gemini-flash" in text and "by provider:" in text and "by client:" in text
    lines = text.splitlines()
    assert any(line.startswith("  2026-11-30 " + "█" * 20) for line in lines)  # the day at the cap
    assert any(line.startswith("  2026-12-01 " + "█" * 5 + "·" * 15) for line in lines)


def budget_endpoint(
    answer: Callable[[str], tuple[int, dict[str, Any]]], seen: list[dict[str, str]]
) -> type[BaseHTTPRequestHandler]:
    """``GET /budget`` as the gateway serves it (llmstack_gateway/budget_api.py): ``answer`` maps the request's
    ``Authorization`` header to the status and JSON body; each request's path and header are kept in ``seen``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorization = self.headers.get("authorization", "")
            seen.append({"path": self.path, "authorization": authorization})
            status, body = answer(authorization)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            return None

    return Handler


def budget_server(
    status: int, body: dict[str, Any], seen: list[dict[str, str]]
) -> type[BaseHTTPRequestHandler]:
    return budget_endpoint(lambda _: (status, body), seen)


def test_fetch_budget_sends_the_key_and_reads_the_answer() -> None:
    seen: list[dict[str, str]] = []
    with serve(budget_server(200, BUDGET, seen)) as server:
        body = asyncio.run(fetch_budget(f"http://127.0.0.1:{server.server_address[1]}", "sk-bot-client"))
    assert body == BUDGET
    assert seen == [{"path": "/budget?days=7", "authorization": "Bearer sk-bot-client"}]


#: the gateway's 403 for a client without read_budget (llmstack_gateway/budget_api.py ``_refusal``, the surface
#: guard's shape, with clients.operator_route_refusal's message)
GUARD_REFUSAL = {
    "error": {
        "message": "client 'bot' may not read the budget: set clients.bot.read_budget: true in the catalog (or "
        "llmstack:clients.bot.read_budget: true in the stack's file) and redeploy, or read it with the master key",
        "type": "permission_error",
        "code": "403",
    }
}


def refusal_of(status: int, body: dict[str, Any]) -> str:
    with (
        serve(budget_server(status, body, [])) as server,
        pytest.raises(SpendUnavailable) as caught,
    ):
        asyncio.run(fetch_budget(f"http://127.0.0.1:{server.server_address[1]}", "sk-bot-client"))
    return str(caught.value)


def test_fetch_budget_refused_passes_on_what_the_gateway_says_to_set() -> None:
    assert refusal_of(403, GUARD_REFUSAL) == (
        "the gateway does not let the bot's key read /budget (403: client 'bot' may not read the budget: set "
        "clients.bot.read_budget: true in the catalog (or llmstack:clients.bot.read_budget: true in the stack's "
        "file) and redeploy, or read it with the master key)"
    )


def test_fetch_budget_refused_by_a_gateway_that_names_no_setting_still_says_what_to_set() -> None:
    # a gateway from before read_budget: budget_api.py's HTTPException for every client key
    older = {"detail": "only the master key may read the budget and the metrics"}
    assert refusal_of(403, older) == (
        "the gateway does not let the bot's key read /budget (403: only the master key may read the budget and "
        "the metrics); set clients.bot.read_budget: true in the catalog (or llmstack:clients.bot.read_budget: "
        "true in the stack's file) and redeploy"
    )


def test_fetch_budget_with_a_key_the_gateway_does_not_know() -> None:
    unknown = {"error": {"message": "Invalid or missing API key", "type": "auth_error", "code": "401"}}
    assert refusal_of(401, unknown) == (
        "the gateway does not know the bot's key (401): GATEWAY_API_KEY must be the bot client's key "
        "(LLMSTACK_CLIENT_BOT_KEY)"
    )


def test_fetch_budget_when_the_gateway_is_down() -> None:
    with serve(budget_server(200, {}, [])) as server:
        port = server.server_address[1]
    with pytest.raises(SpendUnavailable, match="the gateway did not answer"):
        asyncio.run(fetch_budget(f"http://127.0.0.1:{port}", "sk-master", timeout_s=2))
