"""Pulumi's dynamic-provider host (``python -m pulumi.dynamic``) driven over gRPC, the way the engine calls it.

The engine runs one such process (its default ``pulumi-python`` provider) for all the dynamic resources of a
run (``pulumi/dynamic/__main__.py``), sends ``Configure`` with the stack's config, then Check / Diff / Create /
Update / Read / Delete per resource. The process and the wire encoding are ``tests/pulumi/provider_host.py``'s;
this adds the Railway resources' URNs, Read and Delete, and the token sent through Configure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from infra.railway.resources import RailwayProvider
from tests.pulumi.provider_host import host_channel, plain, wire

URN = "urn:pulumi:dev::llmstack::pulumi-python:dynamic/railway:{kind}::{name}"


def urn(kind: str) -> str:
    return URN.format(kind=kind, name="x")


class ProviderHost:
    """A running ``python -m pulumi.dynamic`` and a stub to call it."""

    def __init__(self, channel: grpc.Channel, *, call_timeout_s: float = 60.0) -> None:
        #: the deadline of Create / Update / Delete, which wait for deployments
        self.call_timeout_s = call_timeout_s
        self.stub = provider_pb2_grpc.ResourceProviderStub(channel)

    def configure(self, config: dict[str, str]) -> None:
        args = struct_pb2.Struct()
        args.update(config)
        self.stub.Configure(provider_pb2.ConfigureRequest(args=args), timeout=30)

    def check(self, provider: RailwayProvider, kind: str, news: dict[str, Any]) -> list[str]:
        request = provider_pb2.CheckRequest(urn=urn(kind), olds=wire(provider, {}), news=wire(provider, news))
        return [f.reason for f in self.stub.Check(request, timeout=30).failures]

    def create(
        self, provider: RailwayProvider, kind: str, props: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(urn=urn(kind), properties=wire(provider, props))
        response = self.stub.Create(request, timeout=self.call_timeout_s)
        return response.id, plain(response.properties)

    def diff(
        self, provider: RailwayProvider, kind: str, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> Any:
        request = provider_pb2.DiffRequest(
            id=id_, urn=urn(kind), olds=wire(provider, olds), news=wire(provider, news)
        )
        return self.stub.Diff(request, timeout=30)

    def update(
        self, provider: RailwayProvider, kind: str, id_: str, olds: dict[str, Any], news: dict[str, Any]
    ) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id=id_, urn=urn(kind), olds=wire(provider, olds), news=wire(provider, news)
        )
        return plain(self.stub.Update(request, timeout=self.call_timeout_s).properties)

    def read(
        self, provider: RailwayProvider, kind: str, id_: str, props: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.ReadRequest(id=id_, urn=urn(kind), properties=wire(provider, props))
        response = self.stub.Read(request, timeout=30)
        return response.id, plain(response.properties)

    def delete(self, provider: RailwayProvider, kind: str, id_: str, props: dict[str, Any]) -> None:
        request = provider_pb2.DeleteRequest(id=id_, urn=urn(kind), properties=wire(provider, props))
        self.stub.Delete(request, timeout=self.call_timeout_s)


@contextmanager
def provider_host(
    token: str, *, call_timeout_s: float = 60.0, **env_overrides: str
) -> Iterator[ProviderHost]:
    """A provider process configured with ``token`` the way the engine sends it (config, not environment)."""
    env = {
        **os.environ,
        "LLMSTACK_RAILWAY_RETRY_BASE_S": "0.01",
        "LLMSTACK_RAILWAY_RPS": "1000",
        "LLMSTACK_RAILWAY_BURST": "1000",
        **env_overrides,
    }
    env.pop("RAILWAY_TOKEN", None)
    env.pop("RAILWAY_API_TOKEN", None)  # the token must come through Configure, as the engine sends it
    with host_channel(env) as channel:
        host = ProviderHost(channel, call_timeout_s=call_timeout_s)
        host.configure({"llmstack:railway_token": token})
        yield host
