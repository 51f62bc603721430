"""Pulumi's dynamic-provider host (``python -m pulumi.dynamic``, what the engine's python provider plugin runs),
started by a test and driven over gRPC the way the engine calls it: Check, Diff, Create, Update.

The process, the wire encoding of properties and the channel are shared with the Railway tests
(``tests/railway/provider_host.py``), which add Read, Delete and the stack's token.
"""

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


def wire(provider: ResourceProvider, values: Mapping[str, Any]) -> struct_pb2.Struct:
    """Properties as the engine sends them: with the pickled provider under ``__provider``
    (``pulumi/dynamic/__main__.py`` unpickles it from every request)."""
    full = {**values, "__provider": serialize_provider(provider)}
    return asyncio.run(rpc.serialize_properties(full, {}))


def plain(struct: struct_pb2.Struct) -> dict[str, Any]:
    out = dict(rpc.deserialize_properties(struct))
    out.pop("__provider", None)
    return out


@contextmanager
def host_channel(env: Mapping[str, str]) -> Iterator[grpc.Channel]:
    """The host process, from the project root (it must import our provider classes), and a channel to the
    port it prints first; both stopped at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.dynamic"],
        cwd=ROOT,
        env={**env, "PULUMI_PROJECT": "llmstack"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # never a pipe nobody reads: a full one would block the host
    )
    try:
        assert process.stdout is not None
        channel = grpc.insecure_channel(f"127.0.0.1:{int(process.stdout.readline().decode().strip())}")
        try:
            yield channel
        finally:
            channel.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class ProviderHost:
    """One resource (``urn``) of a running host, called the way the engine calls it."""

    def __init__(self, channel: grpc.Channel, urn: str) -> None:
        self.stub = provider_pb2_grpc.ResourceProviderStub(channel)
        self.urn = urn
        self.stub.Configure(provider_pb2.ConfigureRequest(args=struct_pb2.Struct()), timeout=30)

    def check(self, provider: ResourceProvider, news: Mapping[str, Any]) -> list[tuple[str, str]]:
        request = provider_pb2.CheckRequest(urn=self.urn, olds=wire(provider, {}), news=wire(provider, news))
        return [(f.property, f.reason) for f in self.stub.Check(request, timeout=30).failures]

    def diff(self, provider: ResourceProvider, olds: Mapping[str, Any], news: Mapping[str, Any]) -> Any:
        request = provider_pb2.DiffRequest(
            id="x", urn=self.urn, olds=wire(provider, olds), news=wire(provider, news)
        )
        return self.stub.Diff(request, timeout=30)

    def create(self, provider: ResourceProvider, props: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        request = provider_pb2.CreateRequest(urn=self.urn, properties=wire(provider, props))
        response = self.stub.Create(request, timeout=60)
        return response.id, plain(response.properties)

    def update(
        self, provider: ResourceProvider, olds: Mapping[str, Any], news: Mapping[str, Any]
    ) -> dict[str, Any]:
        request = provider_pb2.UpdateRequest(
            id="x", urn=self.urn, olds=wire(provider, olds), news=wire(provider, news)
        )
        return plain(self.stub.Update(request, timeout=60).properties)


@contextmanager
def provider_host(urn: str) -> Iterator[ProviderHost]:
    with host_channel(os.environ) as channel:
        yield ProviderHost(channel, urn)
