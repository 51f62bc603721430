"""Pulumi's dynamic-provider host (``python -m pulumi.dynamic``, what the engine's python provider plugin runs),
started by a test and driven over gRPC the way the engine calls it: Check, Diff, Create, Update."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
from google.protobuf import struct_pb2
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from tests.conftest import ROOT


class ProviderHost:
    def __init__(self, port: int, urn: str) -> None:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)
        self.urn = urn
        self.stub.Configure(provider_pb2.ConfigureRequest(args=struct_pb2.Struct()), timeout=30)

    @staticmethod
    def props(provider: ResourceProvider, values: Mapping[str, Any]) -> struct_pb2.Struct:
        full = {**values, "__provider": serialize_provider(provider)}
        return asyncio.run(rpc.serialize_properties(full, {}))

    @staticmethod
    def plain(struct: struct_pb2.Struct) -> dict[str, Any]:
        out = dict(rpc.deserialize_properties(struct))
        out.pop("__provider", None)
        return out

    def check(self, provider: ResourceProvider, news: Mapping[str, Any]) -> list[tuple[str, str]]:
        request = provider_pb2.CheckRequest(
            urn=self.urn, olds=self.props(provider, {}), news=self.props(provider, news)
        )
        return [(f.property, f.reason) for f in self.stub.Check(request, timeout=30).failures]

    def diff(self, provider: ResourceProvider, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Any:
        request = provider_pb2.DiffRequest(
            id="x", urn=self.urn, olds=self.props(provider, olds), news=self.props(provider, news)
        )
        return self.stub.Diff(request, timeout=30)

    def create(self, provider: ResourceProvider, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(urn=self.urn, properties=self.props(provider, props))
        response = self.stub.Create(request, timeout=60)
        return response.id, self.plain(response.properties)

    def update(
        self, provider: ResourceProvider, olds: Mapping[str, Any], news: Mapping[str, Any]
    ) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id="x", urn=self.urn, olds=self.props(provider, olds), news=self.props(provider, news)
        )
        return self.plain(self.stub.Update(request, timeout=60).properties)


@contextmanager
def provider_host(urn: str) -> Iterator[ProviderHost]:
    """The host process, from the project root (it must import our provider classes), stopped at the end."""
    env = {**os.environ, "PULUMI_PROJECT": "llmstack"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.dynamic"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        host = ProviderHost(int(process.stdout.readline().decode().strip()), urn)
        yield host
        host.channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
