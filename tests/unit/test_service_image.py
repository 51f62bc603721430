"""The image checks both services share (tests/service_image.py), each fed the case it must refuse."""

from __future__ import annotations

from tests.service_image import dockerfile_problems, requirements_problems

HEADER = "# a service's requirements\n# installed with --require-hashes\n"
TESTED = "fastapi==0.115.0\nuvicorn==0.30.0\n"
GOOD_REQUIREMENTS = HEADER + (
    "fastapi==0.115.0 \\\n    --hash=sha256:aaaa\n    # via -r requirements.in\n"
    "uvicorn==0.30.0 \\\n    --hash=sha256:bbbb\n"
)
GOOD_DOCKERFILE = """FROM python:3.11.9-slim
RUN pip install --require-hashes --no-deps -r requirements.txt
ENV PORT=8080
USER app
CMD ["python", "-m", "service.app"]
"""


def test_the_tested_versions_with_hashes_pass() -> None:
    assert requirements_problems(GOOD_REQUIREMENTS, TESTED, {"fastapi", "uvicorn"}) == []
    assert dockerfile_problems(GOOD_DOCKERFILE, port=8080, module="service.app") == []


def test_each_requirements_problem_is_named() -> None:
    drifted = GOOD_REQUIREMENTS.replace("uvicorn==0.30.0 \\\n    --hash=sha256:bbbb", "uvicorn==0.31.0")
    assert requirements_problems(
        drifted + "--index-url https://example.org\n", TESTED, {"fastapi", "alembic"}
    ) == [
        "not pinned: alembic",
        "not the tested version (constraints.txt): {'uvicorn': '0.31.0'}",
        "without --hash=sha256: uvicorn==0.31.0",
        "--index-url in it",
    ]


def test_each_dockerfile_problem_is_named() -> None:
    bad = (
        GOOD_DOCKERFILE.replace("3.11.9-slim", "3.12")
        .replace("--require-hashes ", "")
        .replace("USER app", "USER app\nUSER root")
        .replace("8080", "80")
    )
    assert dockerfile_problems(bad, port=8080, module="other.app") == [
        "not FROM python:3.11.<patch>-slim",
        "no pip install --require-hashes",
        "runs as root: its last USER must be another",
        "no PORT=8080",
        'no CMD ["python", "-m", "other.app"]',
    ]
