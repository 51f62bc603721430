"""The image that is tested is the image that is deployed: same versions, hash-checked, non-root, on $PORT."""

from __future__ import annotations

import sys
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SERVICE.parent.parent))  # the checks both services' images share, in tests/

from tests.service_image import CONSTRAINTS, dockerfile_problems, requirements_problems  # noqa: E402


def test_every_requirement_is_the_tested_version_and_hash_pinned() -> None:
    requirements = (SERVICE / "requirements.txt").read_text()
    packages = {"litellm", "redis", "fastapi", "uvicorn"}
    assert requirements_problems(requirements, CONSTRAINTS.read_text(), packages) == []


def test_the_dockerfile_installs_with_hashes_and_runs_unprivileged() -> None:
    dockerfile = (SERVICE / "Dockerfile").read_text()
    assert dockerfile_problems(dockerfile, port=4000, module="llmstack_gateway.entrypoint") == []
