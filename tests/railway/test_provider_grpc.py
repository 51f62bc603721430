"""The Railway provider driven for real: Pulumi's dynamic-provider host (``python -m pulumi.dynamic``) over gRPC,
the way the engine calls it, against the fake Railway API on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from pulumi.runtime.proto import provider_pb2

from infra.railway.resources import (
    DeploymentProvider,
    EnvironmentProvider,
    ProjectProvider,
    ServiceProvider,
    VariablesProvider,
)
from tests.railway.fake_railway import FakeRailway, Fault
from tests.railway.provider_host import ProviderHost, provider_host


@pytest.fixture
def host(railway: FakeRailway) -> Iterator[ProviderHost]:
    with provider_host(railway.token) as running:
        yield running


def test_full_lifecycle_over_grpc(host: ProviderHost, railway: FakeRailway) -> None:
    url = railway.url
    pid, project = host.create(
        ProjectProvider(), "Project", {"name": "llmstack-dev", "default_environment": "dev", "api_url": url}
    )
    env_id, environment = host.create(
        EnvironmentProvider(), "Environment", {"project_id": pid, "name": "dev", "api_url": url}
    )
    assert environment["adopted"] is True  # the project's default environment, adopted by name

    # a rate-limited API (Retry-After, then Cloudflare's non-JSON page) and a transient error on the way
    railway.state.faults += [
        Fault(
            429,
            json.dumps({"errors": [{"message": "Too many requests"}]}),
            {"Retry-After": "0"},
            "ServiceCreate",
        ),
        Fault(429, "error code: 1015", {}, "ServiceInstanceUpdate"),
        Fault(
            200,
            json.dumps({"errors": [{"message": "Problem processing request"}]}),
            {},
            "ServiceInstanceUpdate",
        ),
    ]
    service_props = {
        "project_id": pid,
        "environment_id": env_id,
        "name": "gateway",
        "source": {"image": "ghcr.io/acme/gateway:1"},
        "settings": {"healthcheck_path": "/health/readiness", "replicas": 1, "region": "us-west2"},
        "api_url": url,
    }
    sid, service = host.create(ServiceProvider(), "Service", service_props)
    assert service["private_domain"] == "gateway.railway.internal"
    assert railway.state.db_instances[(sid, env_id)]["healthcheckPath"] == "/health/readiness"
    assert not railway.state.faults, "every injected fault was met and survived"

    # diff: settings update in place, a project change replaces
    changed = {**service_props, "settings": {**service_props["settings"], "replicas": 2}}
    diff = host.diff(ServiceProvider(), "Service", sid, service, changed)
    assert diff.changes == provider_pb2.DiffResponse.DIFF_SOME and not diff.replaces
    moved = host.diff(ServiceProvider(), "Service", sid, service, {**service_props, "project_id": "other"})
    assert list(moved.replaces) == ["project_id"] and moved.deleteBeforeReplace
    service = host.update(ServiceProvider(), "Service", sid, service, changed)
    assert railway.state.db_instances[(sid, env_id)]["numReplicas"] == 2

    # read: drift made in the dashboard is reported
    railway.state.db_instances[(sid, env_id)]["healthcheckPath"] = "/changed-by-hand"
    read_id, live = host.read(ServiceProvider(), "Service", sid, service)
    assert read_id == sid and live["settings"]["healthcheck_path"] == "/changed-by-hand"

    # variables: bulk upsert with deploys skipped, removal of a dropped name, then exactly one deploy
    variables = {
        "project_id": pid,
        "environment_id": env_id,
        "service_id": sid,
        "api_url": url,
        "variables": {"PORT": "4000", "OLD": "x"},
    }
    vid, var_state = host.create(VariablesProvider(), "Variables", variables)
    assert "variables" not in var_state and var_state["names"] == ["OLD", "PORT"]
    new_variables = {**variables, "variables": {"PORT": "4001"}}
    assert host.diff(VariablesProvider(), "Variables", vid, var_state, new_variables).changes == (
        provider_pb2.DiffResponse.DIFF_SOME
    )
    var_state = host.update(VariablesProvider(), "Variables", vid, var_state, new_variables)
    assert railway.state.db_variables[(pid, env_id, sid)] == {"PORT": "4001"}
    assert railway.state.deploys == [], "variable changes must not deploy on their own"
    _, deployed = host.create(
        DeploymentProvider(),
        "Deployment",
        {"service_id": sid, "environment_id": env_id, "revision": "r1", "api_url": url},
    )
    assert deployed["status"] == "SUCCESS"
    assert railway.state.deploys == [(sid, env_id)]
    upserts = [v for name, v in railway.state.calls if name == "VariableCollectionUpsert"]
    assert all(v["input"]["skipDeploys"] is True and v["input"]["replace"] is False for v in upserts)

    # gone out of band: read reports it missing, delete treats it as done
    del railway.state.db_services[sid]
    read_id, _ = host.read(ServiceProvider(), "Service", sid, service)
    assert read_id == ""
    host.delete(ServiceProvider(), "Service", sid, service)
    host.delete(ProjectProvider(), "Project", pid, project)
    host.delete(ProjectProvider(), "Project", pid, project)  # twice: already gone is done
    assert railway.rejected == [], "every operation sent validated against the schema"


def test_create_adopts_a_half_created_service(host: ProviderHost, railway: FakeRailway) -> None:
    url = railway.url
    pid, _ = host.create(
        ProjectProvider(), "Project", {"name": "llmstack-dev", "default_environment": "dev", "api_url": url}
    )
    env_id, _ = host.create(
        EnvironmentProvider(), "Environment", {"project_id": pid, "name": "dev", "api_url": url}
    )
    # an earlier run died after serviceCreate: the service exists, unconfigured
    orphan = railway.state.serviceCreate(None, {"projectId": pid, "name": "bot"})
    props = {
        "project_id": pid,
        "environment_id": env_id,
        "name": "bot",
        "api_url": url,
        "source": {"repo": "acme/llm-stack", "branch": "main"},
        "settings": {"root_directory": "services/telegram-bot", "replicas": 1},
    }
    sid, state = host.create(ServiceProvider(), "Service", props)
    assert sid == orphan["id"] and state["adopted"] is True
    assert [s["name"] for s in railway.state.db_services.values()] == ["bot"]
    # configured, not connected: a source would deploy before variables exist (TF PR #21)
    assert railway.state.db_instances[(sid, env_id)]["rootDirectory"] == "services/telegram-bot"
    assert railway.state.deploys == []
    # and a project a failed run left behind is adopted by name too
    again, state = host.create(
        ProjectProvider(), "Project", {"name": "llmstack-dev", "default_environment": "dev", "api_url": url}
    )
    assert again == pid and state["adopted"] is True


def test_check_rejects_a_service_without_exactly_one_source(host: ProviderHost, railway: FakeRailway) -> None:
    failures = host.check(
        ServiceProvider(),
        "Service",
        {
            "project_id": "p",
            "environment_id": "e",
            "name": "s",
            "source": {"image": "a", "repo": "b/c"},
            "api_url": railway.url,
        },
    )
    assert failures == ["set exactly one of source.image or source.repo"]


def test_provider_errors_carry_railways_message_not_the_token(
    host: ProviderHost, railway: FakeRailway
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        host.create(
            EnvironmentProvider(),
            "Environment",
            {"project_id": "missing", "name": "dev", "api_url": railway.url},
        )
    details = caught.value.details() or ""
    assert "Project not found" in details
    assert railway.token not in details


def test_a_project_token_configured_as_the_stacks_token_is_named_when_refused(railway: FakeRailway) -> None:
    """The engine sends llmstack:railway_token through Configure; a project token there looks like any other
    UUID until Railway answers, and that answer must say which token was refused and which kind to use."""
    with provider_host(railway.project_token) as host, pytest.raises(grpc.RpcError) as caught:
        host.create(
            ProjectProvider(),
            "Project",
            {"name": "llmstack-dev", "default_environment": "dev", "api_url": railway.url},
        )
    details = caught.value.details() or ""
    assert "Not Authorized (Railway refused the token from config llmstack:railway_token" in details
    assert "account or workspace token" in details and railway.project_token not in details
    assert railway.state.db_projects == {}
