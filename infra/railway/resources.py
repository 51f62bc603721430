"""The Railway resources in one import, for the components: each lives in its own module.

``project``, ``environment``, ``service``, ``variables``, ``deployment`` (+ ``deployment_wait``), ``domain``
and ``volume`` hold one resource each (its field table, provider and wrapper); ``provider`` holds what they
share; ``client`` talks to Railway; ``tokens`` decides the token.
"""

from __future__ import annotations

from infra.railway.deployment import Deployment, DeploymentProvider
from infra.railway.deployment_wait import DeploymentError
from infra.railway.domain import ServiceDomain, ServiceDomainProvider
from infra.railway.environment import Environment, EnvironmentProvider
from infra.railway.fields import DEFAULT_API_URL
from infra.railway.project import Project, ProjectProvider
from infra.railway.provider import RailwayProvider
from infra.railway.service import Service, ServiceProvider, instance_input
from infra.railway.tokens import TOKEN_CONFIG_KEY
from infra.railway.variables import Variables, VariablesProvider, digest
from infra.railway.volume import Volume, VolumeProvider

__all__ = [
    "DEFAULT_API_URL",
    "TOKEN_CONFIG_KEY",
    "Deployment",
    "DeploymentError",
    "DeploymentProvider",
    "Environment",
    "EnvironmentProvider",
    "Project",
    "ProjectProvider",
    "RailwayProvider",
    "Service",
    "ServiceDomain",
    "ServiceDomainProvider",
    "ServiceProvider",
    "Variables",
    "VariablesProvider",
    "Volume",
    "VolumeProvider",
    "digest",
    "instance_input",
]
