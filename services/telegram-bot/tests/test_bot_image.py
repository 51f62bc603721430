"""The image that is tested is the image that is deployed: same versions, hash-checked, non-root, on $PORT."""

from __future__ import annotations

import re
from pathlib import Path

SERVICE = Path(__file__).resolve().parent.parent
ROOT = SERVICE.parent.parent


def pins(text: str) -> dict[str, str]:
    # names compared in their normal form (PEP 503): pydantic_core and pydantic-core are one package
    return {
        re.sub(r"[-_.]+", "-", m.group(1)).lower(): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s\\;]+)", text, re.M)
    }


def test_every_requirement_is_the_tested_version_and_hash_pinned() -> None:
    requirements = (SERVICE / "requirements.txt").read_text()
    tested = pins((ROOT / "constraints.txt").read_text())
    image = pins(requirements)
    assert {"aiogram", "fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg"} <= set(image)
    assert {name: v for name, v in image.items() if tested.get(name) != v} == {}
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", requirements.split("\n", 2)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    assert "--find-links" not in requirements and "--index-url" not in requirements


def test_the_dockerfile_installs_with_hashes_and_runs_unprivileged() -> None:
    dockerfile = (SERVICE / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim", dockerfile, re.M)
    assert "pip install --require-hashes" in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert "PORT=8080" in dockerfile
    assert 'CMD ["python", "-m", "llmstack_bot.app"]' in dockerfile
