"""The catalog's ``observability:`` section: every bad case rejected with its file, field, message and fix."""

from __future__ import annotations

from typing import Any

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


def test_unknown_key_gets_the_closest_one(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["header_secret"] = section["otlp"].pop("headers_secret")
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "unknown-key")
    assert finding.location.field == "observability.otlp.header_secret"
    assert finding.location.file.endswith("catalog.yaml")
    assert "did you mean 'headers_secret'" in finding.message
    assert "endpoint, headers_secret" in finding.fix


def test_unknown_top_level_key(ws: StackWorkspace) -> None:
    ws.catalog["observability"] = {**good_section(), "langfuze": {}}
    finding = one(ws.findings(), "unknown-key")
    assert finding.location.field == "observability.langfuze"
    assert "did you mean 'langfuse'" in finding.message


def test_langfuse_key_pasted_where_the_secret_id_belongs(ws: StackWorkspace) -> None:
    section = good_section()
    section["langfuse"]["public_key_secret"] = LANGFUSE_PUBLIC
    ws.catalog["observability"] = section
    findings = ws.findings()
    finding = one(findings, "literal-secret")
    assert finding.location.field == "observability.langfuse.public_key_secret"
    assert finding.location.line is not None
    assert "looks like the Langfuse public key itself" in finding.message
    assert f"{len(LANGFUSE_PUBLIC)} characters" in finding.message
    assert "pulumi config set --secret --path 'llmstack:secrets.<SECRET-ID>'" in finding.fix
    # the value is never printed back, by this check or any other
    assert not any(LANGFUSE_PUBLIC[6:20] in f.format() for f in findings)


def test_otlp_headers_written_out_instead_of_a_secret(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["headers_secret"] = OTLP_HEADER_VALUE
    ws.catalog["observability"] = section
    findings = ws.findings()
    finding = one(findings, "literal-secret")
    assert finding.location.field == "observability.otlp.headers_secret"
    assert "looks like the OTLP headers itself" in finding.message
    assert not any("B85YgLm96" in f.format() for f in findings)


def test_a_secret_id_with_forbidden_characters(ws: StackWorkspace) -> None:
    section = good_section()
    section["langfuse"]["secret_key_secret"] = "langfuse.secret"
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "unsafe-name")
    assert finding.location.field == "observability.langfuse.secret_key_secret"
    assert "is not a Secret Manager secret id" in finding.message


def test_endpoint_that_is_not_a_url(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["endpoint"] = "otel.example.com:4318"
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "invalid-url")
    assert finding.severity is Severity.ERROR
    assert finding.location.field == "observability.otlp.endpoint"
    assert "is not an http(s) URL with a host (got 'otel.example.com:4318')" in finding.message
    assert "https://otel.example.com:4318" in finding.fix


def test_langfuse_host_without_a_host(ws: StackWorkspace) -> None:
    section = good_section()
    section["langfuse"]["host"] = "https://"
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "invalid-url")
    assert finding.location.field == "observability.langfuse.host"


def test_credentials_in_the_endpoint_url(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["endpoint"] = "https://user:hunter2hunter2@otel.example.com"
    ws.catalog["observability"] = section
    findings = ws.findings()
    finding = one(findings, "literal-secret")
    assert finding.location.field == "observability.otlp.endpoint"
    assert "carries credentials in the URL" in finding.message
    assert "remove the user:password@ part" in finding.fix
    assert not any("hunter2" in f.format() for f in findings)


def test_plain_http_to_a_public_host_is_a_warning(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["endpoint"] = "http://otel.example.com:4318"
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "plain-http")
    assert finding.severity is Severity.WARNING
    assert "unencrypted to otel.example.com" in finding.message


def test_plain_http_on_the_private_network_is_fine(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["endpoint"] = "http://collector.railway.internal:4318"
    section["langfuse"]["host"] = "http://127.0.0.1:3000"
    ws.catalog["observability"] = section
    assert not only(ws.findings(), "plain-http")


def test_one_secret_for_both_langfuse_keys(ws: StackWorkspace) -> None:
    section = good_section()
    section["langfuse"]["secret_key_secret"] = "LANGFUSE-PUBLIC"
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "duplicate-secret")
    assert finding.location.field == "observability.langfuse.secret_key_secret"
    assert "observability.langfuse.public_key_secret and observability.langfuse.secret_key_secret" in (
        finding.message
    )


def test_a_provider_key_secret_reused_for_traces(ws: StackWorkspace) -> None:
    section = good_section()
    section["otlp"]["headers_secret"] = "ANTHROPIC-API"
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "duplicate-secret")
    assert "providers.anthropic.api_key_secret and observability.otlp.headers_secret" in finding.message
    assert "the OTLP headers a Secret Manager secret of its own" in finding.fix


def test_missing_langfuse_key_secret(ws: StackWorkspace) -> None:
    section = good_section()
    del section["langfuse"]["secret_key_secret"]
    ws.catalog["observability"] = section
    finding = one(ws.findings(), "missing-key")
    assert "required key 'secret_key_secret' is missing" in finding.message
    assert "observability.langfuse" in finding.fix


def test_log_content_must_be_a_boolean(ws: StackWorkspace) -> None:
    ws.catalog["observability"] = {**good_section(), "log_content": "yes"}
    finding = one(ws.findings(), "wrong-type")
    assert finding.location.field == "observability.log_content"


def test_a_stack_overlays_the_section_and_findings_point_at_the_stack_file(ws: StackWorkspace) -> None:
    ws.catalog["observability"] = good_section()
    ws.config["llmstack:observability"] = {"otlp": {"endpoint": "ftp://otel.example.com"}}
    finding = one(ws.findings(), "invalid-url")
    assert finding.location.file.endswith("Pulumi.test.yaml")
    assert finding.location.field == "config.llmstack:observability.otlp.endpoint"
