"""`llmstack diff` on a temporary git repository: a provider swap shows in config, chains and resources."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.cli import main
from tests.conftest import ROOT


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for part in ("infra", "templates", "stacks"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "base")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def swap_gemini_pro_to_openai(repo: Path) -> None:
    path = repo / "stacks" / "catalog.yaml"
    catalog = yaml.safe_load(path.read_text())
    catalog["models"]["gemini-pro"].update(
        {"provider": "openai", "model": "gpt-4.1", "price_per_mtok": {"input": 2.0, "output": 8.0}}
    )
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))


def test_a_provider_swap_shows_config_chains_and_resources(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    swap_gemini_pro_to_openai(repo)
    assert main(["diff", "--stack", "dev", "--base", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("<!-- llmstack-diff -->")
    # the rendered config
    assert '-      model: "gemini/gemini-2.5-pro"' in out
    assert '+      model: "openai/gpt-4.1"' in out
    # the chains: claude-sonnet's fallback now reaches openai instead of gemini
    row = next(line for line in out.splitlines() if line.startswith("| **claude-sonnet**"))
    assert "+openai" in row and "−gemini" in row
    assert "$0.010500" in row
    # the resources: dev now needs an OpenAI key
    assert "Added:" in out and "secrets-openai-api" in out
    assert "```mermaid" in out


def test_an_invalid_head_exits_1_and_lists_the_new_finding(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = repo / "stacks" / "catalog.yaml"
    catalog = yaml.safe_load(path.read_text())
    catalog["fallbacks"]["gemini-flash"] = ["gemini-pro"]
    catalog["fallbacks"]["gemini-pro"] = ["gemini-flash"]
    path.write_text(yaml.safe_dump(catalog, sort_keys=False))
    assert main(["diff", "--stack", "dev", "--base", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert "**invalid**" in out and "New findings:" in out and "single-provider" in out


def test_an_unchanged_tree_says_so(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--stack", "staging", "--base", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "**Gateway config**: unchanged." in out
    assert "**Declared resources** (dry run under mocks, secrets masked): unchanged." in out


def test_an_unknown_base_is_a_usage_error(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "--stack", "dev", "--base", "no-such-ref"]) == 2
    assert "git archive no-such-ref failed" in capsys.readouterr().err
