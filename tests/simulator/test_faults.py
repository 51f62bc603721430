"""Faults on demand, and a client hanging up treated as the normal event it is (no traceback)."""

from __future__ import annotations

import json
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

import anthropic
import httpx
import openai
import pytest

from infra.simulator import Behavior, ProviderSimulator
from infra.simulator.loopback import serve
from tests.simulator.conftest import PROMPT, logged_when

MESSAGES: list[Any] = [{"role": "user", "content": PROMPT}]
CHAT = {"model": "gpt-4o", "messages": MESSAGES, "stream": True}


def chat_url(simulator: ProviderSimulator) -> str:
    return f"{simulator.api_bases()['openai']}/chat/completions"


def test_429_carries_retry_after_and_the_provider_error(simulator: ProviderSimulator) -> None:
    simulator.set("openai", Behavior(mode="429", retry_after_s=7))
    client = openai.OpenAI(base_url=simulator.api_bases()["openai"], api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    assert raised.value.response.headers["retry-after"] == "7"
    assert raised.value.code == "rate_limit_exceeded"
    assert simulator.requests()[-1].status == 429


def test_a_model_fault_wins_over_its_provider(simulator: ProviderSimulator) -> None:
    simulator.set("anthropic", "503")
    simulator.set("claude-haiku-4-5", "ok")
    client = anthropic.Anthropic(base_url=simulator.api_bases()["anthropic"], api_key="k", max_retries=0)
    assert client.messages.create(model="claude-haiku-4-5", max_tokens=4, messages=MESSAGES).content
    with pytest.raises(anthropic.InternalServerError, match="Overloaded"):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=4, messages=MESSAGES)
    assert [r.status for r in simulator.requests()] == [200, 503]


def test_stall_sends_k_deltas_then_hangs_until_the_client_leaves(
    simulator: ProviderSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.set("gpt-4o", Behavior(mode="stall", stall_after=3))
    deltas: list[str] = []
    started = time.monotonic()
    with (
        pytest.raises(httpx.ReadTimeout),
        httpx.stream("POST", chat_url(simulator), json=CHAT, timeout=httpx.Timeout(5, read=0.5)) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: {"):
                delta = json.loads(line.removeprefix("data: "))["choices"][0]["delta"]
                deltas.extend([delta["content"]] if delta.get("content") else [])
    assert len(deltas) == 3 and time.monotonic() - started < 3
    logged = logged_when(simulator, lambda r: r.disconnected)
    assert (logged.deltas_sent, logged.finished, logged.status) == (3, False, 200)
    assert "Traceback" not in capfd.readouterr().err


def test_slow_waits_before_every_delta(simulator: ProviderSimulator) -> None:
    simulator.set("openai", Behavior(mode="slow", delay_ms=40))
    stamps: list[float] = []
    body = {**CHAT, "max_tokens": 4}
    started = time.monotonic()
    with httpx.stream("POST", chat_url(simulator), json=body) as response:
        stamps.extend(time.monotonic() for line in response.iter_lines() if '"content":"' in line)
    content_stamps = stamps[1:]  # the role chunk carries an empty content; the four deltas follow
    assert len(content_stamps) == 4
    # 40 ms before each of the 4 deltas: at least 160 ms in all, and spread out, not one wait up front (a busy
    # client may read two deltas at once, so the spread is checked loosely)
    assert content_stamps[-1] - started >= 0.16
    assert content_stamps[-1] - content_stamps[0] >= 0.06


def test_a_client_leaving_a_slow_stream_is_logged_and_quiet(
    simulator: ProviderSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.set("openai", Behavior(mode="ok", chunk_delay_ms=100))
    with httpx.stream("POST", chat_url(simulator), json=CHAT) as response:
        for line in response.iter_lines():
            if '"content":"[' in line:  # the first delta: hang up right after it
                break
    logged = logged_when(simulator, lambda r: r.disconnected)
    assert 1 <= logged.deltas_sent < 16 and not logged.finished
    assert "Traceback" not in capfd.readouterr().err


def test_hang_ends_when_the_client_gives_up(
    simulator: ProviderSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    simulator.set("openai", "hang")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(chat_url(simulator), json={**CHAT, "stream": False}, timeout=0.3)
    logged = logged_when(simulator, lambda r: r.disconnected)
    assert logged.status == 504
    assert "Traceback" not in capfd.readouterr().err


def _reset_mid_request(port: int) -> None:
    """Send half a request line, then abort the connection with a TCP reset (SO_LINGER 0): the server's read
    raises ConnectionResetError, as when a gateway worker is killed with connections open."""
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"POST /openai/v1/chat")
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)  # let the server thread read the reset and (not) print


def test_a_reset_connection_prints_nothing(
    simulator: ProviderSimulator, capfd: pytest.CaptureFixture[str]
) -> None:
    assert simulator._server is not None
    _reset_mid_request(simulator._server.server_address[1])
    assert httpx.post(chat_url(simulator), json={**CHAT, "stream": False}).status_code == 200  # still serving
    assert "Traceback" not in capfd.readouterr().err


def test_a_stock_handler_does_print_the_reset(capfd: pytest.CaptureFixture[str]) -> None:
    """The bad case behind the test above: http.server's own handler lets the reset escape to socketserver,
    which prints 'Exception occurred during processing of request' and the traceback."""

    class StockHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

    with serve(StockHandler) as server:
        _reset_mid_request(server.server_address[1])
    err = capfd.readouterr().err
    assert "ConnectionResetError" in err and "Traceback" in err


def test_stream_error_breaks_each_format_the_way_its_sdk_reports(simulator: ProviderSimulator) -> None:
    for provider in ("openai", "anthropic", "gemini"):
        simulator.set(provider, Behavior(mode="stream_error", stall_after=2))
    received: list[str] = []
    client = openai.OpenAI(base_url=simulator.api_bases()["openai"], api_key="k", max_retries=0)
    with pytest.raises(openai.APIError, match="mid-stream"):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True):
            received.extend([chunk.choices[0].delta.content] if chunk.choices[0].delta.content else [])
    assert len(received) == 2
    with client.responses.stream(model="gpt-4o", input=PROMPT) as stream:
        kinds = [event.type for event in stream]
    assert kinds.count("response.output_text.delta") == 2 and kinds[-1] == "error"
    claude = anthropic.Anthropic(base_url=simulator.api_bases()["anthropic"], api_key="k", max_retries=0)
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        claude.messages.stream(model="claude-sonnet-4-6", max_tokens=16, messages=MESSAGES) as stream,
    ):
        list(stream)
    gemini = f"{simulator.api_bases()['gemini']}/models/gemini-2.5-pro:streamGenerateContent"
    body = {"contents": [{"parts": [{"text": PROMPT}]}]}
    events = [line for line in httpx.post(gemini + "?alt=sse", json=body).text.split("\n\n") if line]
    assert (
        json.loads(events[-1].removeprefix("data: "))["error"]["status"] == "UNAVAILABLE" and len(events) == 3
    )
    assert json.loads(httpx.post(gemini, json=body).text)[-1]["error"]["code"] == 503  # still one JSON array
    assert [(r.stream_error, r.deltas_sent, r.finished) for r in simulator.requests()] == [
        (True, 2, False)
    ] * 5


def test_stream_error_on_a_plain_request_is_a_500(simulator: ProviderSimulator) -> None:
    simulator.set("openai", Behavior(mode="stream_error"))
    assert httpx.post(chat_url(simulator), json={**CHAT, "stream": False}).status_code == 500


def test_an_unknown_path_or_bad_json_is_refused_by_name(simulator: ProviderSimulator) -> None:
    missing = httpx.post(f"{simulator.url}/openai/v1/embeddings", json={})
    assert (
        missing.status_code == 404
        and missing.json()["error"]["message"] == "no such endpoint: /openai/v1/embeddings"
    )
    broken = httpx.post(chat_url(simulator), content=b"{not json")
    assert broken.status_code == 400 and broken.json()["error"]["message"] == "invalid JSON"
    assert simulator.requests() == []  # neither reached a simulated provider


def test_the_call_log_is_served_over_http(simulator: ProviderSimulator) -> None:
    httpx.post(chat_url(simulator), json={**CHAT, "stream": False, "n": 2})
    (logged,) = httpx.get(f"{simulator.url}/_control/log").json()
    assert (logged["provider"], logged["endpoint"], logged["choices"], logged["finished"]) == (
        "openai",
        "chat",
        2,
        True,
    )
