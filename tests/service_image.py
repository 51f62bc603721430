"""What each service's image test (services/*/tests/test_image.py) checks: the image that is tested is the image
that is deployed. Its requirements.txt pins the versions the tests run (constraints.txt) with their hashes and
no other index; its Dockerfile installs them hash-checked and runs the service unprivileged on its port.

Each check returns what is wrong, one sentence a problem, so a test asserts ``== []`` and a failure names it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the versions the whole suite runs (pip freeze of the tested environment)
CONSTRAINTS = ROOT / "constraints.txt"


def pins(text: str) -> dict[str, str]:
    # names compared in their normal form (PEP 503): pydantic_core and pydantic-core are one package
    return {
        re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", text, re.M)
    }


def requirements_problems(requirements: str, tested: str, packages: set[str]) -> list[str]:
    """``requirements``: a service's requirements.txt; ``tested``: constraints.txt; ``packages``: what it must pin."""
    problems = []
    image = pins(requirements)
    if missing := sorted(packages - set(image)):
        problems.append(f"not pinned: {', '.join(missing)}")
    tested_versions = pins(tested)
    if drift := {name: v for name, v in image.items() if tested_versions.get(name) != v}:
        problems.append(f"not the tested version (constraints.txt): {drift}")
    # each pin is a block of its own (name==version, its hashes, pip-compile's "via" comments); the header's two
    # lines come first
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", requirements.split("\n", 2)[-1])
    if unhashed := [block.split()[0] for block in blocks if "==" in block and "--hash=sha256:" not in block]:
        problems.append(f"without --hash=sha256: {', '.join(unhashed)}")
    problems += [f"{option} in it" for option in ("--find-links", "--index-url") if option in requirements]
    return problems


def dockerfile_problems(dockerfile: str, port: int, module: str) -> list[str]:
    problems = []
    if not re.search(r"^FROM python:3\.11\.\d+-slim", dockerfile, re.M):
        problems.append("not FROM python:3.11.<patch>-slim")
    if "pip install --require-hashes" not in dockerfile:
        problems.append("no pip install --require-hashes")
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    if not user or user[-1] in ("root", "0"):
        problems.append("runs as root: its last USER must be another")
    if f"PORT={port}" not in dockerfile:
        problems.append(f"no PORT={port}")
    if f'CMD ["python", "-m", "{module}"]' not in dockerfile:
        problems.append(f'no CMD ["python", "-m", "{module}"]')
    return problems
