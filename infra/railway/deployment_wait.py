"""Wait for a Railway deployment to reach SUCCESS, or fail with its status, its last log lines and what to do.

Railway's deploy calls only trigger a deployment (``serviceInstanceDeployV2`` returns its id; ``serviceConnect``
returns the service). Its status comes from ``deployment(id) { status }`` (railwayapp/cli
``src/gql/queries/strings/DeploymentStatus.graphql``), and the CLI's ``railway up --ci`` treats SUCCESS as
done and FAILED / CRASHED as failures (``src/commands/up.rs``). The statuses are the schema's
``DeploymentStatus`` enum (docs ``integrations/api/manage-deployments.md`` describes each). Logs come from
``buildLogs`` and ``deploymentLogs`` (CLI ``BuildLogs.graphql`` / ``DeploymentLogs.graphql``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from infra.railway import operations as ops
from infra.railway.client import RailwayClient, RailwayError

SUCCESS = "SUCCESS"
#: a deployment that went SUCCESS and then slept (serverless, ``sleepApplication``) also served: docs
#: manage-deployments.md, "SLEEPING: Deployment is sleeping (inactive)"
SERVED = (SUCCESS, "SLEEPING")
#: statuses after which this deployment will never serve: it failed to build or start, crashed, or was
#: removed (replaced by a newer one, or by hand) or skipped
FAILED_STATUSES = ("FAILED", "CRASHED", "REMOVED", "REMOVING", "SKIPPED")
#: how many log lines a failure shows (the dashboard has the rest)
LOG_LINES = 20

NEXT_STEP = {
    "FAILED": "the build failed, or the container never answered its health check (healthcheck_path) with "
    "200 within Railway's healthcheck timeout (300 s by default; docs deployments/healthchecks.md): fix what "
    "the log above shows (Dockerfile, root directory, start command, PORT, a missing variable), push, and run "
    "`pulumi up` again",
    "CRASHED": "the container started and then exited: check the deploy log above, the service's variables and "
    "its start command, then run `pulumi up` again",
    "REMOVED": "the deployment was removed before it finished (a newer deploy or someone in the dashboard "
    "replaced it): run `pulumi up` again",
    "SKIPPED": "Railway skipped the deployment (no change to build, or a watch-path filter): check the "
    "service's source and watch patterns, then run `pulumi up` again",
}


class DeploymentError(Exception):
    """The deployment did not reach SUCCESS; the message has the status, log lines and the next step."""

    def __init__(self, service: str, deployment_id: str, status: str, message: str) -> None:
        self.service = service
        self.deployment_id = deployment_id
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class WaitPolicy:
    timeout_s: float = 900.0
    poll_interval_s: float = 5.0


def wait_for_success(
    client: RailwayClient,
    deployment_id: str,
    *,
    service: str,
    policy: WaitPolicy,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Poll until SUCCESS (returned) or raise ``DeploymentError`` on a failed status or at the timeout."""
    deadline = clock() + policy.timeout_s
    interval = policy.poll_interval_s
    while True:
        found = client.execute(ops.DEPLOYMENT_STATUS, {"id": deployment_id}, retry_not_found=True)
        status = str(found["deployment"]["status"])
        if status in SERVED:
            return status
        if status in FAILED_STATUSES:
            raise DeploymentError(
                service, deployment_id, status, _failure(client, service, deployment_id, status, policy)
            )
        if clock() + interval > deadline:
            raise DeploymentError(
                service, deployment_id, status, _timeout(client, service, deployment_id, status, policy)
            )
        sleep(interval)
        # a build takes minutes: polling slows down (to 6x the first interval) so a run's calls stay few; the
        # Free plan allows 100 API requests an hour (railwayapp/docs integrations/api.md, "Rate limits")
        interval = min(interval * 1.5, policy.poll_interval_s * 6)


def _failure(client: RailwayClient, service: str, deployment_id: str, status: str, policy: WaitPolicy) -> str:
    head = f"Railway deployment {deployment_id} of service {service!r} ended {status}."
    return "\n".join([head, *_logs(client, deployment_id, status), f"Next: {NEXT_STEP.get(status, '')}"])


def _timeout(client: RailwayClient, service: str, deployment_id: str, status: str, policy: WaitPolicy) -> str:
    head = (
        f"Railway deployment {deployment_id} of service {service!r} is still {status} after "
        f"{policy.timeout_s:g} s (the Deployment's timeout_s)."
    )
    advice = (
        "Next: watch it in the Railway dashboard; if it is only slow, raise timeout_s and run `pulumi up` "
        "again (the next run deploys once more and waits again)"
    )
    if status in ("WAITING", "NEEDS_APPROVAL"):
        advice = "Next: the deployment waits for an approval in the Railway dashboard; approve it, then run `pulumi up`"
    return "\n".join([head, *_logs(client, deployment_id, status), advice])


def _logs(client: RailwayClient, deployment_id: str, status: str) -> list[str]:
    # a build that failed has its story in the build log; anything that started has it in the deploy log
    queries = [("build log", ops.BUILD_LOGS, "buildLogs")]
    if status not in ("FAILED", "BUILDING", "QUEUED", "INITIALIZING", "WAITING", "NEEDS_APPROVAL"):
        queries = [("deploy log", ops.DEPLOYMENT_LOGS, "deploymentLogs")]
    elif status == "FAILED":
        queries.append(("deploy log", ops.DEPLOYMENT_LOGS, "deploymentLogs"))
    lines: list[str] = []
    for label, document, key in queries:
        try:
            entries = client.execute(document, {"deploymentId": deployment_id, "limit": LOG_LINES})[key]
        except RailwayError as exc:
            lines.append(f"({label} unavailable: {exc.railway_message})")
            continue
        if entries:
            lines.append(f"Last {label} lines:")
            lines += [f"  {str(e.get('message', ''))[:300]}" for e in entries[-LOG_LINES:]]
    return lines
