"""Pulumi's dynamic-provider host (``python -m pulumi.dynamic``) driven over gRPC, the way the engine calls it.

The engine runs one such process for every dynamic resource of a run (``pulumi/dynamic/__main__.py``), sends
``Configure`` with the stack's config, then Check / Diff / Create / Update / Read / Delete per resource.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from infra.railway.resources import RailwayProvider
from tests.conftest import ROOT

URN = "urn:pulumi:dev::llmstack::pulumi-python:dynamic/railway:{kind}::{name}"


class ProviderHost:
    """A running ``python -m pulumi.dynamic`` and a stub to call it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, *, call_timeout_s: float = 60.0) -> None:
        #: the deadline of Create / Update / Delete, which wait for deployments
        self.call_timeout_s = call_timeout_s
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
        response = self.stub.Create(request, timeout=self.call_timeout_s)
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
        return self.plain(self.stub.Update(request, timeout=self.call_timeout_s).properties)

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
        self.stub.Delete(request, timeout=self.call_timeout_s)


@contextmanager
def provider_host(
    token: str, *, call_timeout_s: float = 60.0, **env_overrides: str
) -> Iterator[ProviderHost]:
    """A provider process configured with ``token`` the way the engine sends it (config, not environment)."""
    env = {
        **os.environ,
        "PULUMI_PROJECT": "llmstack",
        "LLMSTACK_RAILWAY_RETRY_BASE_S": "0.01",
        "LLMSTACK_RAILWAY_RPS": "1000",
        "LLMSTACK_RAILWAY_BURST": "1000",
        **env_overrides,
    }
    env.pop("RAILWAY_TOKEN", None)
    env.pop("RAILWAY_API_TOKEN", None)  # the token must come through Configure, as the engine sends it
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
        host = ProviderHost(process, port, call_timeout_s=call_timeout_s)
        host.configure({"llmstack:railway_token": token})
        yield host
        host.channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
