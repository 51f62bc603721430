"""Deployments in the fake Railway: created with the instance settings and variables of that moment, then
BUILDING -> DEPLOYING -> SUCCESS / FAILED / CRASHED on a clock, with build and deploy logs.

Where each behaviour comes from:
- the statuses and their meaning: the schema's ``DeploymentStatus`` enum and railwayapp/docs
  ``integrations/api/manage-deployments.md`` ("Deployment statuses");
- a deployment builds what the instance has *when it starts*: terraform-community-providers/
  terraform-provider-railway PR #21 and issue #82 (settings written after ``serviceConnect`` miss the first
  build);
- a newer deployment of the same service replaces one still in progress, which ends REMOVED (docs: "REMOVED:
  Deployment was removed"; the dashboard shows superseded builds as removed);
- a container that never answers its health check (crash-looping, or not listening on ``PORT``): the deploy
  is "marked as failed" once the health check timeout (300 s by default) passes (railwayapp/docs
  ``deployments/healthchecks.md``, "Healthcheck timeout"), so it ends FAILED after building, with the story
  in the deploy log; scripted here as the outcome ``UNHEALTHY``;
- logs: ``buildLogs`` / ``deploymentLogs`` return ``Log`` entries oldest first (railwayapp/cli
  ``src/gql/queries/strings/BuildLogs.graphql``, ``DeploymentLogs.graphql``).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

FINAL = ("SUCCESS", "FAILED", "CRASHED", "REMOVED")


@dataclass
class FakeDeployment:
    id: str
    service_id: str
    environment_id: str
    #: the instance settings and variables it was built with (a deep copy taken at creation)
    snapshot: dict[str, Any]
    created: float
    #: SUCCESS, FAILED, CRASHED or UNHEALTHY (reported FAILED after deploying) once built and deployed
    outcome: str = "SUCCESS"
    #: what the test asked the failure logs to say
    failure_lines: list[str] = field(default_factory=list)
    removed: bool = False

    def status(self, now: float, build_s: float, deploy_s: float) -> str:
        if self.removed:
            return "REMOVED"
        elapsed = now - self.created
        if elapsed < build_s:
            return "BUILDING"
        if self.outcome == "FAILED":
            return "FAILED"  # a failed build never deploys
        if elapsed < build_s + deploy_s:
            return "DEPLOYING"
        return "FAILED" if self.outcome == "UNHEALTHY" else self.outcome

    def build_log(self) -> list[str]:
        root = self.snapshot.get("settings", {}).get("rootDirectory") or "/"
        source = self.snapshot.get("source") or {}
        lines = [
            f"Using source {source.get('repo') or source.get('image') or '(none)'}",
            f"root directory {root}",
        ]
        if self.outcome == "FAILED":
            lines += self.failure_lines or ["ERROR: failed to solve: process did not complete successfully"]
        else:
            lines.append("Build complete")
        return lines

    def deploy_log(self) -> list[str]:
        if self.outcome == "CRASHED":
            return ["Starting Container", *(self.failure_lines or ["Error: process exited with code 1"])]
        if self.outcome == "UNHEALTHY":
            # the wording of Railway's health check phase as the dashboard shows it
            return ["Starting Container", *self.failure_lines, "Healthcheck failed!"]
        return ["Starting Container"] if self.outcome != "FAILED" else []


class DeploymentBook:
    """Every deployment the fake started, with the clock and the scripted outcomes."""

    def __init__(
        self, *, build_s: float, deploy_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.build_s = build_s
        self.deploy_s = deploy_s
        self.clock = clock
        self.all: list[FakeDeployment] = []
        #: service name -> outcomes for its next deployments, in order ("FAILED", "CRASHED", "SUCCESS")
        self.outcomes: dict[str, list[tuple[str, list[str]]]] = {}

    def start(
        self, deployment_id: str, service: dict[str, Any], environment_id: str, snapshot: dict[str, Any]
    ) -> FakeDeployment:
        now = self.clock()
        for older in self.all:
            same = older.service_id == service["id"] and older.environment_id == environment_id
            if same and self.status(older) not in FINAL:
                older.removed = True
        outcome, lines = ("SUCCESS", [])
        queued = self.outcomes.get(service["name"]) or []
        if queued:
            outcome, lines = queued.pop(0)
        deployment = FakeDeployment(
            deployment_id, service["id"], environment_id, copy.deepcopy(snapshot), now, outcome, list(lines)
        )
        self.all.append(deployment)
        return deployment

    def status(self, deployment: FakeDeployment) -> str:
        return deployment.status(self.clock(), self.build_s, self.deploy_s)

    def find(self, deployment_id: str) -> FakeDeployment | None:
        return next((d for d in self.all if d.id == deployment_id), None)

    def view(self, deployment: FakeDeployment) -> dict[str, Any]:
        return {
            "id": deployment.id,
            "status": self.status(deployment),
            "serviceId": deployment.service_id,
            "environmentId": deployment.environment_id,
            "createdAt": f"2026-12-01T00:00:{len(self.all):02d}Z",
        }

    def of(self, service_id: str) -> list[FakeDeployment]:
        return [d for d in self.all if d.service_id == service_id]

    def forget_service(self, service_id: str) -> None:
        self.all = [d for d in self.all if d.service_id != service_id]
