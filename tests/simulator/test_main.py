"""``python -m infra.simulator`` on its own: prints its base URLs, serves, stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import httpx

from tests.conftest import ROOT


def test_runs_alone_prints_base_urls_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.simulator", "--port", "0", "--fault", "gemini=500"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        bases = dict(line.split() for line in lines[1:])
        assert set(bases) == {"openai", "anthropic", "gemini"}
        assert lines[0].startswith("provider simulator on http://127.0.0.1:")
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"{bases['openai']}/chat/completions", json=body).status_code == 200
        gemini = httpx.post(f"{bases['gemini']}/models/gemini-2.5-pro:generateContent", json={"contents": []})
        assert gemini.status_code == 500  # the --fault given on the command line
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "stopped; it answered 2 requests" in out
    assert "Traceback" not in err and "KeyboardInterrupt" not in err


def test_a_bad_fault_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infra.simulator", "--fault", "openai=down"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert (
        "expected TARGET=MODE with MODE one of ok, 429, 500, 503, hang, slow, stall, stream_error; got 'openai=down'"
        in result.stderr
    )


def test_a_taken_port_is_an_error_not_a_traceback() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "infra.simulator", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert f"cannot serve on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
