"""Each resource's exact requests (operation and variables, in order), as the fake Railway records them."""

from __future__ import annotations

from typing import Any

import pytest

from infra.railway.resources import (
    DeploymentProvider,
    EnvironmentProvider,
    ProjectProvider,
    ServiceDomainProvider,
    ServiceProvider,
    VariablesProvider,
    VolumeProvider,
)
from tests.railway.fake_railway import FakeRailway
from tests.railway.stack_fixture import deployment_props, service_props

PAGE = {"first": 100, "after": None}


def sent(fake: FakeRailway, since: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return fake.state.calls[since:]


def service_scope(ids: dict[str, str]) -> dict[str, str]:
    """A service's project, environment and id as Railway's inputs name them."""
    return {
        "projectId": ids["project_id"],
        "environmentId": ids["environment_id"],
        "serviceId": ids["service_id"],
    }


@pytest.fixture
def ids(railway: FakeRailway) -> dict[str, str]:
    project = railway.state.projectCreate(None, {"name": "llmstack-dev", "defaultEnvironmentName": "dev"})
    env_id = next(iter(railway.state.db_environments))
    service = railway.state.serviceCreate(None, {"projectId": project["id"], "name": "gateway"})
    return {"project_id": project["id"], "environment_id": env_id, "service_id": service["id"]}


def test_project_create(railway: FakeRailway) -> None:
    ProjectProvider().create(
        {"name": "p", "default_environment": "dev", "workspace_id": "w", "api_url": railway.url}
    )
    create_input = {
        "name": "p",
        "workspaceId": "w",
        "defaultEnvironmentName": "dev",
        "isPublic": False,
        "prDeploys": False,
    }
    assert sent(railway) == [
        ("Projects", {"workspaceId": "w", **PAGE}),
        ("ProjectCreate", {"input": create_input}),
    ]


def test_environment_create_adopts_the_default(railway: FakeRailway, ids: dict[str, str]) -> None:
    start = len(railway.state.calls)
    EnvironmentProvider().create({"project_id": ids["project_id"], "name": "dev", "api_url": railway.url})
    assert sent(railway, start) == [("Environments", {"projectId": ids["project_id"], **PAGE})]


def test_service_create_and_update(railway: FakeRailway, ids: dict[str, str]) -> None:
    props = service_props(
        railway, ids["project_id"], ids["environment_id"], "bot", repo="acme/x", root_directory="b"
    )
    created = ServiceProvider().create(props)
    sid = str(created.id)
    scope = {"serviceId": sid, "environmentId": ids["environment_id"]}
    assert sent(railway) == [
        ("ProjectServices", {"id": ids["project_id"], **PAGE}),
        (
            "ServiceCreate",
            {
                "input": {
                    "projectId": ids["project_id"],
                    "name": "bot",
                    "environmentId": ids["environment_id"],
                }
            },
        ),
        ("ServiceInstanceUpdate", {**scope, "input": {"rootDirectory": "b", "numReplicas": 1}}),
    ]
    start = len(railway.state.calls)
    news = {**props, "name": "bot2", "settings": {"replicas": 2, "region": "europe-west4"}}
    ServiceProvider().update(sid, dict(created.outs or {}), news)
    assert sent(railway, start) == [
        ("ServiceUpdate", {"id": sid, "input": {"name": "bot2"}}),
        (
            "ServiceInstanceUpdate",
            {**scope, "input": {"multiRegionConfig": {"europe-west4": {"numReplicas": 2}}}},
        ),
    ]
    start = len(railway.state.calls)
    ServiceProvider().delete(sid, dict(created.outs or {}))
    assert sent(railway, start) == [("ServiceDelete", {"id": sid})]


def test_variables_create_update_delete(railway: FakeRailway, ids: dict[str, str]) -> None:
    props = {**ids, "api_url": railway.url, "variables": {"A": "1", "B": "2"}}
    scope = service_scope(ids)
    start = len(railway.state.calls)
    created = VariablesProvider().create(props)
    upsert = {**scope, "variables": {"A": "1", "B": "2"}, "replace": False, "skipDeploys": True}
    assert sent(railway, start) == [("VariableCollectionUpsert", {"input": upsert})]
    start = len(railway.state.calls)
    updated = VariablesProvider().update(
        str(created.id), dict(created.outs or {}), {**props, "variables": {"A": "3"}}
    )
    upsert = {**scope, "variables": {"A": "3"}, "replace": False, "skipDeploys": True}
    assert sent(railway, start) == [
        ("VariableCollectionUpsert", {"input": upsert}),
        ("VariableDelete", {"input": {**scope, "name": "B"}}),
    ]
    start = len(railway.state.calls)
    VariablesProvider().delete(str(created.id), dict(updated.outs or {}))
    assert sent(railway, start) == [("VariableDelete", {"input": {**scope, "name": "A"}})]


def test_domain_create_and_update(railway: FakeRailway, ids: dict[str, str]) -> None:
    props = {**ids, "api_url": railway.url, "target_port": 4000}
    listing = service_scope(ids)
    start = len(railway.state.calls)
    created = ServiceDomainProvider().create(props)
    create_input = {
        "environmentId": ids["environment_id"],
        "serviceId": ids["service_id"],
        "targetPort": 4000,
    }
    assert sent(railway, start) == [("Domains", listing), ("ServiceDomainCreate", {"input": create_input})]
    start = len(railway.state.calls)
    outs = dict(created.outs or {})
    ServiceDomainProvider().update(str(created.id), outs, {**props, "target_port": 8080})
    update_input = {
        "domain": outs["domain"],
        "environmentId": ids["environment_id"],
        "serviceDomainId": str(created.id),
        "serviceId": ids["service_id"],
        "targetPort": 8080,
    }
    assert sent(railway, start) == [("ServiceDomainUpdate", {"input": update_input})]


def test_volume_create_and_update(railway: FakeRailway, ids: dict[str, str]) -> None:
    props = {**ids, "api_url": railway.url, "mount_path": "/data"}
    start = len(railway.state.calls)
    created = VolumeProvider().create(props)
    create_input = {**service_scope(ids), "mountPath": "/data"}
    assert sent(railway, start) == [
        ("ProjectVolumes", {"id": ids["project_id"], **PAGE}),
        ("VolumeCreate", {"input": create_input}),
    ]
    start = len(railway.state.calls)
    VolumeProvider().update(str(created.id), dict(created.outs or {}), {**props, "mount_path": "/data2"})
    update = {
        "volumeId": str(created.id),
        "environmentId": ids["environment_id"],
        "input": {"serviceId": ids["service_id"], "mountPath": "/data2"},
    }
    assert sent(railway, start) == [("VolumeInstanceUpdate", update)]


def test_deployment_of_a_repository_connects_once_then_deploys(
    railway: FakeRailway, ids: dict[str, str]
) -> None:
    service = {**ids, "name": "gateway", "source": {"repo": "acme/x", "branch": "main"}}
    props = deployment_props(railway, service, "r1")
    scope = {"serviceId": ids["service_id"], "environmentId": ids["environment_id"]}
    listing = {"input": {**scope, "projectId": ids["project_id"]}, "first": 5}
    start = len(railway.state.calls)
    created = DeploymentProvider().create(props)
    outs = dict(created.outs or {})
    calls = sent(railway, start)
    assert calls[:4] == [
        ("ServiceInstanceGet", scope),
        ("LatestDeployments", listing),
        ("ServiceConnect", {"id": ids["service_id"], "input": {"repo": "acme/x", "branch": "main"}}),
        ("LatestDeployments", listing),
    ]
    # then only the status, polled until SUCCESS
    assert calls[4:] and all(c == ("DeploymentStatus", {"id": outs["deployment_id"]}) for c in calls[4:])
    start = len(railway.state.calls)
    DeploymentProvider().update(str(created.id), outs, {**props, "revision": "r2"})
    calls = sent(railway, start)
    assert calls[:2] == [("ServiceInstanceGet", scope), ("ServiceInstanceDeploy", scope)]
    assert {name for name, _ in calls[2:]} == {"DeploymentStatus"}
