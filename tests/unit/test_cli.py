"""`llmstack` commands: exit codes, formats, outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from tests.conftest import StackWorkspace


@pytest.fixture
def project(ws: StackWorkspace, monkeypatch: pytest.MonkeyPatch) -> StackWorkspace:
    ws.write()
    monkeypatch.chdir(ws.root)
    return ws


def test_check_valid_exits_0(project: StackWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert "test: ok (0 error(s)" in capsys.readouterr().out


def test_check_invalid_exits_1_and_names_file_and_field(
    project: StackWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    project.catalog["fallbacks"]["gpt-4o"] = ["claude-sonet"]
    project.write()
    assert main(["check", "--stack", "test"]) == 1
    out = capsys.readouterr().out
    assert "test: INVALID" in out
    assert "stacks/catalog.yaml:" in out and "fallbacks.gpt-4o[0]" in out
    assert "fix:" in out


def test_check_json(project: StackWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    project.catalog["budget"]["daily_usd"] = 0
    project.write()
    assert main(["check", "--format", "json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["valid"] is False
    codes = [f["code"] for f in payload["stacks"]["test"]["findings"]]
    assert "budget-invalid" in codes
    finding = next(f for f in payload["stacks"]["test"]["findings"] if f["code"] == "budget-invalid")
    assert finding["file"] == "stacks/catalog.yaml" and finding["field"] == "budget.daily_usd"


def test_unknown_stack_is_a_usage_error(project: StackWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--stack", "prdo"]) == 2
    assert "unknown stack(s): prdo" in capsys.readouterr().err


def test_bad_arguments_exit_2(project: StackWorkspace) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["check", "--format", "xml"])
    assert exc.value.code == 2


def test_render_to_a_file(project: StackWorkspace, tmp_path: Path) -> None:
    target = tmp_path / "out" / "config.yaml"
    assert main(["render", "--stack", "test", "-o", str(target)]) == 0
    assert yaml.safe_load(target.read_text())["model_list"]


def test_render_refuses_an_invalid_stack(project: StackWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    project.catalog["router"]["routing_strategy"] = "usage-based-routing"
    project.write()
    assert main(["render", "--stack", "test"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "routing-strategy-disables-budget" in captured.err


def test_explain_text_and_mermaid(project: StackWorkspace, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--stack", "test"]) == 0
    text = capsys.readouterr().out
    assert "gpt-4o (openai) -> claude-sonnet (anthropic) -> gemini-pro (gemini)" in text
    assert "survives losing: anthropic, gemini, openai" in text
    assert main(["explain", "--stack", "test", "--format", "mermaid"]) == 0
    graph = capsys.readouterr().out
    assert graph.startswith("flowchart LR")
    assert "gpt_4o -->|1| claude_sonnet" in graph
    assert "r_vision([vision]) -.-> gpt_4o" in graph


def test_explain_json_has_worst_case_and_cost(
    project: StackWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "--stack", "test", "--format", "json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["balanced"]["group"] == "claude-sonnet" and rows["balanced"]["route"] is True
    assert rows["claude-sonnet"]["worst_case_s"] == 90.0
    # 1000 input tokens at $3/M plus 500 output tokens at $15/M
    assert rows["claude-sonnet"]["typical_cost_usd"] == pytest.approx(0.0105)


def test_plan_renders_every_stack_into_build(
    project: StackWorkspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan"]) == 0
    assert (project.root / "build" / "test" / "litellm-config.yaml").exists()
    assert "attempt order" in capsys.readouterr().out


def test_plan_exits_1_when_a_stack_is_invalid(project: StackWorkspace) -> None:
    project.config = {"llmstack:gateway": {"workers": 4, "shared_state": "none"}}
    project.write()
    assert main(["plan"]) == 1
    assert not (project.root / "build" / "test").exists()


def test_check_does_not_pay_for_importing_litellm_or_pulumi() -> None:
    """LiteLLM's import costs ~3 s; the check reads its cost map as data instead (bench/check_speed.py)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    program = (
        "import sys\n"
        "from infra.cli import main\n"
        "code = main(['check'])\n"
        "heavy = sorted(m for m in ('litellm', 'pulumi', 'pulumi_gcp') if m in sys.modules)\n"
        "print('HEAVY', heavy, code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "HEAVY [] 0" in done.stdout, done.stdout + done.stderr


def test_the_readmes_fallback_graph_is_the_prod_stacks() -> None:
    """The picture in the README is `llmstack explain --stack prod --format mermaid`, so it cannot drift."""
    from infra.catalog import load_stack
    from infra.explain import mermaid
    from tests.conftest import ROOT, STACKS

    spec = load_stack("prod", stacks_dir=STACKS).spec
    assert spec is not None
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The fallback graph (prod)", 1)[1]
    block = section.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block == mermaid(spec)
