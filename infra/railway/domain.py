"""The service's public ``*.up.railway.app`` domain, adopted if the service already has one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from infra.railway import operations as ops
from infra.railway.client import RailwayClient
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, create_or_adopt
from infra.railway.scope import SCOPE_FIELDS, ServiceScope, scope_variables

DOMAIN_FIELDS = ResourceFields(
    (
        *SCOPE_FIELDS,
        Field("target_port", "target_port", required=True),
        Field("domain"),
        Field("url"),
    )
)


class ServiceDomainProvider(RailwayProvider):
    fields = DOMAIN_FIELDS

    @staticmethod
    def _domains(client: RailwayClient, props: Mapping[str, Any]) -> list[dict[str, Any]]:
        # `domains` is a plain list, not a paginated connection (schema: AllDomains.serviceDomains)
        result = client.execute(ops.DOMAINS, scope_variables(props), retry_not_found=True)
        domains: list[dict[str, Any]] = result["domains"]["serviceDomains"]
        return domains

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = self.client(props)
        # the CLI sends targetPort with serviceDomainCreate (railwayapp/cli src/commands/domain.rs)
        create_input = {
            "environmentId": props["environment_id"],
            "serviceId": props["service_id"],
            "targetPort": int(props["target_port"]),
        }
        domain, adopted = create_or_adopt(
            lambda: next(iter(self._domains(client, props)), None),
            lambda: client.execute(ops.SERVICE_DOMAIN_CREATE, {"input": create_input}, creates=True)[
                "serviceDomainCreate"
            ],
        )
        if adopted and domain.get("targetPort") != props["target_port"]:
            self._set_port(client, props, domain)
        return CreateResult(domain["id"], self._domain_outs(props, domain))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        domain = {"id": id_, "domain": olds.get("domain")}
        self._set_port(self.client(news), news, domain)
        return UpdateResult(self._domain_outs(news, domain))

    @staticmethod
    def _set_port(client: RailwayClient, props: Mapping[str, Any], domain: Mapping[str, Any]) -> None:
        # always send the real port: a missing or zero targetPort clobbers it (TF issue #81)
        client.execute(
            ops.SERVICE_DOMAIN_UPDATE,
            {
                "input": {
                    "domain": domain["domain"],
                    "environmentId": props["environment_id"],
                    "serviceDomainId": domain["id"],
                    "serviceId": props["service_id"],
                    "targetPort": int(props["target_port"]),
                }
            },
        )

    def _domain_outs(self, props: Mapping[str, Any], domain: Mapping[str, Any]) -> dict[str, Any]:
        return self.outs(props, domain=domain["domain"], url=f"https://{domain['domain']}")

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        found = [d for d in self._domains(client, props) if d["id"] == id_]
        if not found:
            return None
        return {**props, **self._domain_outs(props, found[0]), "target_port": found[0]["targetPort"]}

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        client.execute(ops.SERVICE_DOMAIN_DELETE, {"id": id_})


class ServiceDomain(Resource, module="railway", name="ServiceDomain"):
    domain: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        target_port: pulumi.Input[int],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
        **scope: Unpack[ServiceScope],
    ) -> None:
        super().__init__(ServiceDomainProvider(), name, DOMAIN_FIELDS.props({**scope, **locals()}), opts)
