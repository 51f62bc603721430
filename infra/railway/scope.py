"""Where a service's own objects live: its variables, domain and volume are each one service's in one environment
of one project, and Railway names them by all three (``domains`` and ``variables`` take ``projectId``,
``environmentId`` and ``serviceId``: schema.graphql ``Query``; a volume instance carries the environment and
the service). Declared once here: the three fields, the wrappers' keyword arguments, the GraphQL variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

import pulumi

from infra.railway.fields import Field

#: each resource's field table starts with these; moving any of them is a new object (replace)
SCOPE_FIELDS = (
    Field("project_id", "project_id", required=True, replace=True),
    Field("environment_id", "environment_id", required=True, replace=True),
    Field("service_id", "service_id", required=True, replace=True),
)


class ServiceScope(TypedDict):
    """The wrappers' keyword arguments for it (``**scope: Unpack[ServiceScope]``), the fields' names."""

    project_id: pulumi.Input[str]
    environment_id: pulumi.Input[str]
    service_id: pulumi.Input[str]


def scope_variables(props: Mapping[str, Any]) -> dict[str, Any]:
    """The GraphQL variables that name it, from a resource's properties."""
    return {
        "projectId": props["project_id"],
        "environmentId": props["environment_id"],
        "serviceId": props["service_id"],
    }
