"""Every operation the provider can send validates against Railway's schema; our subset agrees with the full one."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import (
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    coerce_input_value,
    parse,
    validate,
)

from infra.railway import operations as ops
from infra.railway.resources import instance_input
from tests.railway.fake_railway import FULL, SUBSET

SUBSET_SCHEMA = build_schema(SUBSET.read_text())
FULL_SCHEMA: GraphQLSchema | None = build_schema(FULL.read_text()) if FULL.exists() else None
needs_shared = pytest.mark.skipif(FULL_SCHEMA is None, reason="../shared/railway is not present")


@pytest.mark.parametrize("name", sorted(ops.ALL))
def test_operation_validates_against_the_subset(name: str) -> None:
    assert validate(SUBSET_SCHEMA, parse(ops.ALL[name])) == []


@needs_shared
@pytest.mark.parametrize("name", sorted(ops.ALL))
def test_operation_validates_against_railways_full_schema(name: str) -> None:
    assert FULL_SCHEMA is not None
    assert validate(FULL_SCHEMA, parse(ops.ALL[name])) == []


@needs_shared
def test_subset_agrees_with_the_full_schema() -> None:
    """Every type, field, argument and input field we keep exists in Railway's schema with the same type."""
    assert FULL_SCHEMA is not None
    for name, ours in SUBSET_SCHEMA.type_map.items():
        if name.startswith("__"):
            continue
        theirs = FULL_SCHEMA.type_map.get(name)
        assert theirs is not None, f"{name} is not in Railway's schema"
        assert type(theirs) is type(ours), name
        if isinstance(ours, GraphQLObjectType):
            assert isinstance(theirs, GraphQLObjectType)
            for field_name, field in ours.fields.items():
                assert field_name in theirs.fields, f"{name}.{field_name}"
                assert str(field.type) == str(theirs.fields[field_name].type), f"{name}.{field_name}"
                for arg_name, arg in field.args.items():
                    assert str(arg.type) == str(theirs.fields[field_name].args[arg_name].type), arg_name
        if isinstance(ours, GraphQLInputObjectType):
            assert isinstance(theirs, GraphQLInputObjectType)
            assert {k: str(v.type) for k, v in ours.fields.items()} == {
                k: str(v.type) for k, v in theirs.fields.items()
            }


def test_a_misspelt_field_is_caught() -> None:
    bad = 'mutation X($s: String!, $e: String!) { serviceInstanceUpdate(serviceId: $s, environmentId: $e, input: {healthCheckPath: "/"}) }'
    errors = validate(SUBSET_SCHEMA, parse(bad))
    assert errors and "healthcheckPath" in errors[0].message


def coerce(type_name: str, value: dict[str, Any]) -> Any:
    schema_type = SUBSET_SCHEMA.type_map[type_name]
    assert isinstance(schema_type, GraphQLInputObjectType)
    return coerce_input_value(value, schema_type)


def test_instance_settings_the_provider_builds_match_the_input_type() -> None:
    fields = instance_input(
        {"image": "ghcr.io/acme/gateway@sha256:" + "0" * 64},
        {
            "healthcheck_path": "/health/readiness",
            "healthcheck_timeout_s": 120,
            "replicas": 2,
            "region": "us-west2",
            "restart_policy": "ON_FAILURE",
            "start_command": "python -m gateway",
            "root_directory": "services/litellm-gateway",
            "dockerfile_path": "Dockerfile",
        },
    )
    coerced = coerce("ServiceInstanceUpdateInput", fields)
    assert coerced["multiRegionConfig"] == {"us-west2": {"numReplicas": 2}}
    assert coerced["restartPolicyType"] == "ON_FAILURE"


def test_an_invalid_restart_policy_is_rejected_by_the_input_type() -> None:
    from graphql import GraphQLError

    with pytest.raises(GraphQLError):
        coerce("ServiceInstanceUpdateInput", instance_input({}, {"restart_policy": "SOMETIMES"}))
