"""The catalog: typed models, loading with source locations, and findings. Imports nothing else of ours."""

from infra.catalog.deploy import DeploySettings
from infra.catalog.findings import PROJECT, Finding, InvalidStackError, Location, Severity
from infra.catalog.loader import (
    CATALOG_NAME,
    DEFAULT_STACKS_DIR,
    LoadResult,
    StackSpec,
    build_spec,
    discover_stacks,
    load_stack,
    stack_file_name,
)
from infra.catalog.models import Catalog, ModelGroup, Provider

__all__ = [
    "CATALOG_NAME",
    "DEFAULT_STACKS_DIR",
    "PROJECT",
    "Catalog",
    "DeploySettings",
    "Finding",
    "InvalidStackError",
    "LoadResult",
    "Location",
    "ModelGroup",
    "Provider",
    "Severity",
    "StackSpec",
    "build_spec",
    "discover_stacks",
    "load_stack",
    "stack_file_name",
]
