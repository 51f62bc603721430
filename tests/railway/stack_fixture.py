"""Building blocks for driving the Railway providers against the fake: the props each resource of a stack gets."""

from __future__ import annotations

from typing import Any

from tests.railway.fake_railway import FakeRailway


def service_props(
    fake: FakeRailway, project_id: str, env_id: str, name: str, *, repo: str | None = None, **settings: Any
) -> dict[str, Any]:
    source = {"repo": repo, "branch": "main"} if repo else {"image": f"ghcr.io/acme/{name}:1"}
    return {
        "project_id": project_id,
        "environment_id": env_id,
        "name": name,
        "source": source,
        "settings": {"replicas": 1, **settings},
        "api_url": fake.url,
    }


def deployment_props(
    fake: FakeRailway, service: dict[str, Any], revision: str, *, timeout_s: float = 10.0
) -> dict[str, Any]:
    return {
        "service_id": service["service_id"],
        "environment_id": service["environment_id"],
        "project_id": service["project_id"],
        "service_name": service["name"],
        "source": service["source"],
        "revision": revision,
        "timeout_s": timeout_s,
        "poll_interval_s": 0.02,
        "api_url": fake.url,
    }
