"""One deployment per change of a service, and ``up`` waits until Railway reports it SUCCESS.

``revision`` fingerprints everything that should redeploy the service (source, settings, variables): an
unchanged service has no diff and gets no deployment; a changed one gets exactly one. This resource
depends on the service's variables, volume and domain, so it is the first thing that can start a
deployment (see ``infra.railway.service``): it connects a repository with ``serviceConnect`` (which itself
starts the deployment: terraform-community-providers/terraform-provider-railway PR #21) the first time,
and otherwise triggers one with ``serviceInstanceDeployV2`` (railwayapp/cli
``src/gql/mutations/strings/ServiceInstanceDeploy.graphql``). It then waits (``infra.railway.deployment_wait``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, Resource, UpdateResult

from infra.railway import operations as ops
from infra.railway.client import RailwayClient, RailwayError
from infra.railway.deployment_wait import DeploymentError, WaitPolicy, wait_for_success
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, edges

DEFAULT_TIMEOUT_S = 900.0
DEFAULT_POLL_INTERVAL_S = 5.0

DEPLOYMENT_FIELDS = ResourceFields(
    (
        Field("service_id", "service_id", required=True, replace=True),
        Field("environment_id", "environment_id", required=True, replace=True),
        Field("revision", "revision", required=True),
        # the repository to connect (an image is set by the Service); a change already changes `revision`
        Field("source", "source"),
        # scope and knobs: a change to them alone must not redeploy
        Field("project_id", "project_id", compared=False),
        Field("service_name", "service_name", compared=False),
        Field("timeout_s", "timeout_s", compared=False),
        Field("poll_interval_s", "poll_interval_s", compared=False),
        Field("deployment_id"),
        Field("status"),
    )
)


class DeploymentProvider(RailwayProvider):
    fields = DEPLOYMENT_FIELDS

    def validate(self, news: Mapping[str, Any]) -> list[CheckFailure]:
        failures = []
        for key in ("timeout_s", "poll_interval_s"):
            value = news.get(key)
            if value is not None and (not isinstance(value, (int, float)) or value <= 0):
                failures.append(
                    CheckFailure(key, f"{key} must be a positive number of seconds, not {value!r}")
                )
        return failures

    def create(self, props: dict[str, Any]) -> CreateResult:
        deployment_id, status = self._deploy(props, olds=None)
        return CreateResult(
            f"{props['service_id']}:{props['environment_id']}",
            self.outs(props, deployment_id=deployment_id, status=status),
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        deployment_id, status = self._deploy(news, olds=olds)
        return UpdateResult(self.outs(news, deployment_id=deployment_id, status=status))

    def _deploy(self, props: Mapping[str, Any], olds: Mapping[str, Any] | None) -> tuple[str, str]:
        client = self.client(props)
        policy = WaitPolicy(
            timeout_s=float(props.get("timeout_s") or DEFAULT_TIMEOUT_S),
            poll_interval_s=float(props.get("poll_interval_s") or DEFAULT_POLL_INTERVAL_S),
        )
        scope = {"serviceId": props["service_id"], "environmentId": props["environment_id"]}
        source = props.get("source") or {}
        if source.get("repo") and self._needs_connect(client, props, olds):
            before = {d["id"] for d in self._recent(client, props)}
            client.execute(
                ops.SERVICE_CONNECT,
                # a missing branch with a repo "silently fails" (TF PR #21)
                {
                    "id": props["service_id"],
                    "input": {"repo": source["repo"], "branch": source.get("branch") or "main"},
                },
                retry_not_found=True,
            )
            deployment_id = self._started_since(client, props, before, policy)
        else:
            result = client.execute(ops.SERVICE_INSTANCE_DEPLOY, scope, retry_not_found=True)
            deployment_id = str(result["serviceInstanceDeployV2"])
        service = str(props.get("service_name") or props["service_id"])
        status = wait_for_success(client, deployment_id, service=service, policy=policy)
        return deployment_id, status

    @staticmethod
    def _needs_connect(
        client: RailwayClient, props: Mapping[str, Any], olds: Mapping[str, Any] | None
    ) -> bool:
        """Connect when the instance has not got this repository yet, or the branch changed."""
        wanted = props.get("source") or {}
        if olds is not None and (olds.get("source") or {}).get("branch") != wanted.get("branch"):
            return True
        instance = client.execute(
            ops.SERVICE_INSTANCE_GET,
            {"serviceId": props["service_id"], "environmentId": props["environment_id"]},
            retry_not_found=True,
        )["serviceInstance"]
        return bool((instance.get("source") or {}).get("repo") != wanted.get("repo"))

    @staticmethod
    def _recent(client: RailwayClient, props: Mapping[str, Any]) -> list[dict[str, Any]]:
        listing_input = {"serviceId": props["service_id"], "environmentId": props["environment_id"]}
        if props.get("project_id"):
            listing_input["projectId"] = props["project_id"]
        # newest first, as the docs' "latest deployment" example relies on (integrations/api/manage-deployments.md)
        result = client.execute(ops.LATEST_DEPLOYMENTS, {"input": listing_input, "first": 5})
        return edges(result["deployments"])

    def _started_since(
        self, client: RailwayClient, props: Mapping[str, Any], before: set[str], policy: WaitPolicy
    ) -> str:
        """The deployment ``serviceConnect`` started: it returns the service, not the deployment."""
        deadline = time.monotonic() + min(policy.timeout_s, 120.0)
        while True:
            new = [d for d in self._recent(client, props) if d["id"] not in before]
            if new:
                return str(new[0]["id"])
            if time.monotonic() > deadline:
                raise DeploymentError(
                    str(props.get("service_name") or props["service_id"]),
                    "",
                    "NOT_STARTED",
                    "serviceConnect returned but Railway shows no new deployment for the service; check the "
                    "repository and branch (and that Railway's GitHub app can read it), then run `pulumi up` again",
                )
            time.sleep(min(policy.poll_interval_s, 1.0))

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        if not props.get("deployment_id"):
            return dict(props)
        try:
            found = client.execute(ops.DEPLOYMENT_STATUS, {"id": props["deployment_id"]})["deployment"]
        except RailwayError as exc:
            if exc.is_not_found:
                return {**props, "status": "REMOVED"}
            raise
        # a crashed or removed deployment shows on `pulumi refresh`; the next `up` with a change deploys again
        return {**props, "status": found["status"]}

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing to undo: the running deployment goes with its service


class Deployment(Resource, module="railway", name="Deployment"):
    deployment_id: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        service_id: pulumi.Input[str],
        environment_id: pulumi.Input[str],
        revision: pulumi.Input[str],
        source: pulumi.Input[Mapping[str, Any]] | None = None,
        project_id: pulumi.Input[str] | None = None,
        service_name: pulumi.Input[str] | None = None,
        timeout_s: pulumi.Input[float] = DEFAULT_TIMEOUT_S,
        poll_interval_s: pulumi.Input[float] = DEFAULT_POLL_INTERVAL_S,
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(DeploymentProvider(), name, DEPLOYMENT_FIELDS.props(locals()), opts)
