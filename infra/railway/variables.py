"""A service's variables, upserted in bulk with deploys skipped: the Deployment resource deploys once.

``variableCollectionUpsert`` takes ``skipDeploys`` (default false: every change would deploy) and ``replace``
(true deletes every variable not in the map) (research/railway.md §0 item 6; schema text). Only the names
we own are managed; values are secret inputs and never written to the outputs, only their digest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Unpack

import pulumi
from pulumi.dynamic import CreateResult, Resource, UpdateResult

from infra.railway import operations as ops
from infra.railway.client import RailwayClient
from infra.railway.fields import DEFAULT_API_URL, Field, ResourceFields
from infra.railway.provider import RailwayProvider, already_gone_is_done
from infra.railway.scope import SCOPE_FIELDS, ServiceScope, scope_variables

VARIABLES_FIELDS = ResourceFields(
    (
        *SCOPE_FIELDS,
        # compared through its digest (other_changes), never stored
        Field("variables", "variables", secret=True, compared=False),
        Field("names"),
        Field("digest"),
    )
)


def digest(values: Mapping[str, Any]) -> str:
    """A stable fingerprint of values that must not be stored themselves (variables holding secrets)."""
    canonical = json.dumps(dict(values), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class VariablesProvider(RailwayProvider):
    fields = VARIABLES_FIELDS

    def other_changes(self, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
        values = news.get("variables") or {}
        same = olds.get("digest") == digest({k: str(v) for k, v in values.items()})
        same = same and sorted(olds.get("names") or []) == sorted(values)
        return [] if same else ["variables"]

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._upsert(props, removed=())
        return CreateResult(f"{props['service_id']}:{props['environment_id']}", self._variable_outs(props))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        removed = sorted(set(olds.get("names") or []) - set(news.get("variables") or {}))
        self._upsert(news, removed=removed)
        return UpdateResult(self._variable_outs(news))

    def _upsert(self, props: Mapping[str, Any], removed: Any) -> None:
        client = self.client(props)
        variables = {k: str(v) for k, v in (props.get("variables") or {}).items()}
        if variables:
            client.execute(
                ops.VARIABLE_COLLECTION_UPSERT,
                # replace=false: variables Railway or a person added stay; skipDeploys: one deploy comes later
                {
                    "input": {
                        **scope_variables(props),
                        "variables": variables,
                        "replace": False,
                        "skipDeploys": True,
                    }
                },
                retry_not_found=True,
            )
        self._delete_names(client, props, removed)

    @staticmethod
    def _delete_names(client: RailwayClient, props: Mapping[str, Any], names: Any) -> None:
        for name in names:
            with already_gone_is_done():
                client.execute(ops.VARIABLE_DELETE, {"input": {**scope_variables(props), "name": name}})

    def _variable_outs(self, props: Mapping[str, Any]) -> dict[str, Any]:
        values = props.get("variables") or {}
        outs = self.outs(props, names=sorted(values), digest=digest({k: str(v) for k, v in values.items()}))
        outs.pop("variables", None)  # the values stay out of the state; only names and digest are kept
        return outs

    def fetch(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> dict[str, Any] | None:
        live = client.execute(ops.VARIABLES, scope_variables(props))["variables"] or {}
        owned = {name: live[name] for name in props.get("names") or [] if name in live}
        # a changed or deleted value shows up as a different digest, so the next `up` writes it again
        return {**props, "names": sorted(owned), "digest": digest(owned)}

    def remove(self, client: RailwayClient, id_: str, props: Mapping[str, Any]) -> None:
        self._delete_names(client, props, props.get("names") or [])


class Variables(Resource, module="railway", name="Variables"):
    names: pulumi.Output[list[str]]
    digest: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        variables: pulumi.Input[Mapping[str, pulumi.Input[str]]],
        api_url: pulumi.Input[str] = DEFAULT_API_URL,
        opts: pulumi.ResourceOptions | None = None,
        **scope: Unpack[ServiceScope],
    ) -> None:
        # every value is secret: provider keys, the master key and tokens travel here
        super().__init__(VariablesProvider(), name, VARIABLES_FIELDS.props({**scope, **locals()}), opts)
