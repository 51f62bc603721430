"""`llmstack spend`: where the gateway and key come from, the screen it prints, and its errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from infra.cli import main
from infra.spend import SpendError, bar, format_text, resolve_gateway

REPORT: dict[str, Any] = {
    "stack": "dev",
    "day": "2026-12-01",
    "timezone": "Europe/Berlin",
    "resets_at": "2026-12-02T00:00:00+01:00",
    "cap_usd": 10.0,
    "spent_usd": 2.5,
    "held_usd": 0.12,
    "remaining_usd": 7.38,
    "requests": 42,
    "by_group": {"claude-sonnet": 2.0, "gemini-flash": 0.5},
    "by_provider": {"anthropic": 2.0, "gemini": 0.5},
    "by_client": {},
    "history": [
        {"day": "2026-12-01", "spent_usd": 2.5, "requests": 42},
        {"day": "2026-11-30", "spent_usd": 10.0, "requests": 300},
        {"day": "2026-11-29", "spent_usd": 0.0, "requests": 0},
    ],
}


def fake_pulumi(directory: Path, outputs: dict[str, Any] | None, *, fails: str | None = None) -> None:
    """A `pulumi` on PATH that answers `pulumi stack output --json --show-secrets --stack S` like the real CLI.

    The real command prints the stack's outputs as one JSON object, secrets in clear with --show-secrets
    (pulumi.com/docs/iac/cli/commands/pulumi_stack_output/), and exits non-zero with `error: ...` on stderr when
    the stack is unknown or the backend needs a login (pkg/cmd/pulumi/stack/stack_output.go).
    """
    script = directory / "pulumi"
    if fails is not None:
        body = f'echo "error: {fails}" >&2\nexit 255\n'
    else:
        body = f"cat <<'EOF'\n{json.dumps(outputs)}\nEOF\n"
    script.write_text(
        '#!/bin/sh\n[ "$1 $2 $3 $4" = "stack output --json --show-secrets" ] || exit 64\n' + body
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


def test_bar_is_filled_to_the_fraction_in_eighths() -> None:
    assert bar(0.0, 10) == " " * 10
    assert bar(1.0, 10) == "█" * 10
    assert bar(2.0, 10) == "█" * 10  # over the cap (a day before a lower cap): clipped to the cap's width
    assert bar(0.5, 10) == "█" * 5 + " " * 5
    assert bar(0.0125, 10) == "▏" + " " * 9  # one eighth of one character
    assert bar(0.0001, 10) == "▏" + " " * 9  # spent something: never an empty bar


def test_screen_shows_today_split_and_days_against_the_cap() -> None:
    text = format_text(REPORT)
    assert "stack dev: budget day 2026-12-01 (Europe/Berlin), resets 2026-12-02T00:00:00+01:00" in text
    assert (
        "spent $2.500000 of $10 (25.0%); held by requests in flight $0.120000; left $7.380000; 42 request(s)"
        in text
    )
    assert "claude-sonnet     $2.000000   80.0%" in text
    assert "anthropic     $2.000000   80.0%" in text
    assert "client" not in text  # no clients: no client table
    days = [line for line in text.splitlines() if line.startswith("2026-")]
    assert days[0] == "2026-12-01 " + "█" * 10 + " " * 30 + "|    $2.500000  25.0%  42 req"
    assert days[1].startswith("2026-11-30 " + "█" * 40 + "|")
    assert days[2].startswith("2026-11-29 " + " " * 40 + "|")


def test_flags_win_over_environment_and_outputs(tmp_path: Path) -> None:
    gateway = resolve_gateway("dev", "http://flag/", "sk-flag", {"LITELLM_MASTER_KEY": "sk-env"}, tmp_path)
    assert (gateway.url, gateway.key) == ("http://flag", "sk-flag")


def test_the_stack_outputs_fill_what_flags_leave_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pulumi(tmp_path, {"gateway_url": "https://gw.example", "gateway_master_key": "sk-out"})
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    gateway = resolve_gateway("dev", None, None, {}, tmp_path)
    assert (gateway.url, gateway.key) == ("https://gw.example", "sk-out")


def test_without_pulumi_or_flags_says_what_to_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SpendError, match=r"pulumi CLI is not installed.*pass --url and --key"):
        resolve_gateway("dev", None, None, {}, tmp_path)


def test_a_failing_pulumi_is_reported_with_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pulumi(tmp_path, None, fails="no stack named 'dev' found")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(
        SpendError, match=r"failed \(error: no stack named 'dev' found\): pass --url and --key"
    ):
        resolve_gateway("dev", None, None, {}, tmp_path)


def test_a_stack_not_deployed_has_no_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_pulumi(tmp_path, {})
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(SpendError, match="has no gateway_url output"):
        resolve_gateway("dev", None, "sk", {}, tmp_path)


def test_unreachable_gateway_exits_1_without_the_key(capsys: pytest.CaptureFixture[str]) -> None:
    from infra.localgateway import free_port

    url = f"http://127.0.0.1:{free_port()}"
    assert main(["spend", "--stack", "dev", "--url", url, "--key", "sk-secret-value"]) == 1
    err = capsys.readouterr().err
    assert f"could not reach {url}/budget: ConnectError" in err
    assert "sk-secret-value" not in err
