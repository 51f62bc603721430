"""The Railway provider driven for real: Pulumi's dynamic-provider host (``python -m pulumi.dynamic``) over gRPC,
the way the engine calls it, against the fake Railway API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from infra.railway.resources import (
    DeploymentProvider,
    EnvironmentProvider,
    ProjectProvider,
    RailwayProvider,
    ServiceProvider,
    VariablesProvider,
)
from tests.conftest import ROOT
from tests.railway.fake_railway import FakeRailway, Fault

URN = "urn:pulumi:dev::llmstack::pulumi-python:dynamic/railway:{kind}::{name}"


class ProviderHost:
    """A running ``python -m pulumi.dynamic`` and a stub to call it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process = process
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def configure(self, config: dict[str, str]) -> None:
        args = struct_pb2.Struct()
        args.update(config)
        self.stub.Configure(provider_pb2.ConfigureRequest(args=args), timeout=30)

    @staticmethod
    def props(provider: RailwayProvider, values: dict[str, Any]) -> struct_pb2.Struct:
        full = {**values, "__provider": serialize_provider(provider)}
        return asyncio.run(rpc.serialize_properties(full, {}))

    @staticmethod
    def plain(struct: struct_pb2.Struct) -> dict[str, Any]:
        out = rpc.deserialize_properties(struct)
        out.pop("__provider", None)
        return dict(out)

    def check(self, provider: RailwayProvider, kind: str, news: dict[str, Any]) -> list[str]:
        request = provider_pb2.CheckRequest(
            urn=URN.format(kind=kind, name="x"),
            olds=self.props(provider, {}),
            news=self.props(provider, news),
        )
        return [f.reason for f in self.stub.Check(request, timeout=30).failures]

    def create(
        self, provider: RailwayProvider, kind: str, props: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(
            urn=URN.format(kind=kind, name="x"), properties=self.props(provider, props)
        )
        response = self.stub.Create(request, timeout=60)
        return response.id, self.plain(response.properties)

    def diff(
        self, provider: RailwayProvider, kind: str, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> Any:
        request = provider_pb2.DiffRequest(
            id=id_,
            urn=URN.format(kind=kind, name="x"),
            olds=self.props(provider, olds),
            news=self.props(provider, news),
        )
        return self.stub.Diff(request, timeout=30)

    def update(
        self, provider: RailwayProvider, kind: str, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id=id_,
            urn=URN.format(kind=kind, name="x"),
            olds=self.props(provider, olds),
            news=self.props(provider, news),
        )
        return self.plain(self.stub.Update(request, timeout=60).properties)

    def read(
        self, provider: RailwayProvider, kind: str, id_: str, props: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.ReadRequest(
            id=id_, urn=URN.format(kind=kind, name="x"), properties=self.props(provider, props)
        )
        response = self.stub.Read(request, timeout=30)
        return response.id, self.plain(response.properties)

    def delete(self, provider: RailwayProvider, kind: str, id_: str, props: dict[str, Any]) -> None:
        request = provider_pb2.DeleteRequest(
            id=id_, urn=URN.format(kind=kind, name="x"), properties=self.props(provider, props)
        )
        self.stub.Delete(request, timeout=60)


@pytest.fixture
def host(railway: FakeRailway) -> Iterator[ProviderHost]:
    env = {**os.environ, "PULUMI_PROJECT": "llmstack", "LLMSTACK_RAILWAY_RETRY_BASE_S": "0.01"}
    env.pop("RAILWAY_TOKEN", None)  # the token must come through Configure, as the engine sends it
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.dynamic"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().decode().strip())
        provider_host = ProviderHost(process, port)
        provider_host.configure({"llmstack:railway_token": railway.token})
        yield provider_host
        provider_host.channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
