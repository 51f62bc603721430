"""The catalog's ``observability:`` section: every bad case rejected with its file, field, message and fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from infra.catalog import Severity
from tests.conftest import StackWorkspace, one, only

LANGFUSE_PUBLIC = "pk-lf-" + "0123456789abcdef" * 2
OTLP_HEADER_VALUE = "x-honeycomb-team=" + "B85YgLm96" * 3


def good_section() -> dict[str, Any]:
    return {
        "otlp": {"endpoint": "https://otel.example.com:4318", "headers_secret": "OTLP-HEADERS"},
        "langfuse": {
            "host": "https://cloud.langfuse.com",
            "public_key_secret": "LANGFUSE-PUBLIC",
            "secret_key_secret": "LANGFUSE-SECRET",
        },
        "log_content": False,
    }


def test_a_good_section_has_no_finding(ws: StackWorkspace) -> None:
    ws.catalog["observability"] = good_section()
    result = ws.check()
    assert result.spec is not None
    assert not [f for f in result.findings if f.location.field.startswith("observability")]
    assert result.spec.catalog.observability.langfuse is not None


#: marks a key the case removes from the good section
DELETE = object()


@dataclass(frozen=True)
class BadCase:
    """One bad edit of the good section and the finding it must get."""

    name: str
    #: dotted path inside ``observability`` -> the value written there (or DELETE)
    edit: dict[str, Any]
    code: str
    field: str
    message: tuple[str, ...]
    fix: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR
    #: a part of a credential the case wrote, which no finding may print back
    never_shown: str | None = None


BAD_CASES = [
    BadCase(
        "unknown key gets the closest one",
        {"otlp.headers_secret": DELETE, "otlp.header_secret": "OTLP-HEADERS"},
        "unknown-key",
        "observability.otlp.header_secret",
        ("did you mean 'headers_secret'",),
        ("endpoint, headers_secret",),
    ),
    BadCase(
        "unknown top-level key",
        {"langfuze": {}},
        "unknown-key",
        "observability.langfuze",
        ("did you mean 'langfuse'",),
    ),
    BadCase(
        "langfuse key pasted where the secret id belongs",
        {"langfuse.public_key_secret": LANGFUSE_PUBLIC},
        "literal-secret",
        "observability.langfuse.public_key_secret",
        ("looks like the Langfuse public key itself", f"{len(LANGFUSE_PUBLIC)} characters"),
        (
            "put a secret id here (e.g. LANGFUSE-PUBLIC)",
            "pulumi config set --secret --path 'llmstack:secrets.<SECRET-ID>'",
        ),
        never_shown=LANGFUSE_PUBLIC[6:20],
    ),
    BadCase(
        "otlp headers written out instead of a secret",
        {"otlp.headers_secret": OTLP_HEADER_VALUE},
        "literal-secret",
        "observability.otlp.headers_secret",
        ("looks like the OTLP headers itself",),
        ("put a secret id here (e.g. OTLP-HEADERS)",),
        never_shown="B85YgLm96",
    ),
    BadCase(
        "a secret id with forbidden characters",
        {"langfuse.secret_key_secret": "langfuse.secret"},
        "unsafe-name",
        "observability.langfuse.secret_key_secret",
        ("is not a Secret Manager secret id",),
        ("name a secret id such as LANGFUSE-SECRET in observability.langfuse.secret_key_secret",),
    ),
    BadCase(
        "endpoint that is not a url",
        {"otlp.endpoint": "otel.example.com:4318"},
        "invalid-url",
        "observability.otlp.endpoint",
        ("is not an http(s) URL with a host (got 'otel.example.com:4318')",),
        ("https://otel.example.com:4318",),
    ),
    BadCase(
        "langfuse host without a host",
        {"langfuse.host": "https://"},
        "invalid-url",
        "observability.langfuse.host",
        ("is not an http(s) URL with a host",),
    ),
    BadCase(
        "credentials in the endpoint url",
        {"otlp.endpoint": "https://user:hunter2hunter2@otel.example.com"},
        "literal-secret",
        "observability.otlp.endpoint",
        ("carries credentials in the URL",),
        ("remove the user:password@ part",),
        never_shown="hunter2",
    ),
    BadCase(
        "plain http to a public host is a warning",
        {"otlp.endpoint": "http://otel.example.com:4318"},
        "plain-http",
        "observability.otlp.endpoint",
        ("unencrypted to otel.example.com",),
        severity=Severity.WARNING,
    ),
    BadCase(
        "one secret for both langfuse keys",
        {"langfuse.secret_key_secret": "LANGFUSE-PUBLIC"},
        "duplicate-secret",
        "observability.langfuse.secret_key_secret",
        ("observability.langfuse.public_key_secret and observability.langfuse.secret_key_secret",),
    ),
    BadCase(
        "a provider key secret reused for traces",
        {"otlp.headers_secret": "ANTHROPIC-API"},
        "duplicate-secret",
        "observability.otlp.headers_secret",
        ("providers.anthropic.api_key_secret and observability.otlp.headers_secret",),
        ("the OTLP headers a Secret Manager secret of its own",),
    ),
    BadCase(
        "missing langfuse key secret",
        {"langfuse.secret_key_secret": DELETE},
        "missing-key",
        "observability.langfuse",
        ("required key 'secret_key_secret' is missing",),
        ("observability.langfuse",),
    ),
    BadCase(
        "log_content must be a boolean",
        {"log_content": "yes"},
        "wrong-type",
        "observability.log_content",
        (),
    ),
]


def edited(edit: dict[str, Any]) -> dict[str, Any]:
    section = good_section()
    for path, value in edit.items():
        *parents, key = path.split(".")
        target = section
        for parent in parents:
            target = target[parent]
        if value is DELETE:
            del target[key]
        else:
            target[key] = value
    return section


@pytest.mark.parametrize("case", BAD_CASES, ids=[case.name for case in BAD_CASES])
def test_a_bad_section_gets_its_finding(ws: StackWorkspace, case: BadCase) -> None:
    ws.catalog["observability"] = edited(case.edit)
    findings = ws.findings()
    finding = one(findings, case.code)
    assert finding.severity is case.severity
    assert finding.location.field == case.field
    assert finding.location.file.endswith("catalog.yaml") and finding.location.line is not None
    for part in case.message:
        assert part in finding.message
    for part in case.fix:
        assert part in finding.fix
    if case.never_shown is not None:
        # the value is never printed back, by this check or any other
        assert not any(case.never_shown in f.format() for f in findings)


def test_plain_http_on_the_private_network_is_fine(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["endpoint"] = "http://collector.railway.internal:4318"
    section["langfuse"]["host"] = "http://127.0.0.1:3000"
    ws.catalog["observability"] = section
    assert not only(ws.findings(), "plain-http")


def test_a_stack_overlays_the_section_and_findings_point_at_the_stack_file(ws: StackWorkspace) -> None:
    ws.catalog["observability"] = good_section()
    ws.config["llmstack:observability"] = {"otlp": {"endpoint": "ftp://otel.example.com"}}
    finding = one(ws.findings(), "invalid-url")
    assert finding.location.file.endswith("Pulumi.test.yaml")
    assert finding.location.field == "config.llmstack:observability.otlp.endpoint"
