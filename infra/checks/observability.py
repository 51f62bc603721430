"""The ``observability:`` section: endpoints that are URLs, secrets named by id and never written out.

Structure (unknown keys, types, a missing key) is the pydantic model's job (``infra/catalog/models.py``); this
check covers what a type cannot say. A finding about a secret never repeats the value it found, only its length:
someone who pasted a Langfuse key where the secret's *id* belongs must not see it again in CI logs.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from infra.catalog import PROJECT, Finding, Location, Severity
from infra.checks.context import CheckContext

#: the Secret Manager id shape (``infra/catalog/models.py`` SecretId); ids are upper-case by this repo's habit
_SECRET_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
#: what a credential (not an id) looks like: Langfuse keys are ``pk-lf-…`` / ``sk-lf-…`` (Langfuse project
#: settings page), OTLP headers are ``name=value`` pairs (OTEL_EXPORTER_OTLP_HEADERS, OpenTelemetry SDK
#: environment variable spec), bearer tokens carry a space or a colon
_CREDENTIAL_SHAPES = (
    re.compile(r"^(?:pk|sk)-lf-"),
    re.compile(r"[=\s:]"),
    # a long run of lower-case letters and digits (hex, base64): a token; this repo's ids are upper-case words
    re.compile(r"^(?=.*[a-z])(?=.*[0-9])[A-Za-z0-9+/_-]{32,}={0,2}$"),
)
#: host names inside a private network (Railway's private networking gives ``<service>.railway.internal``)
_PRIVATE_SUFFIXES = (".railway.internal", ".internal", ".local", "localhost")


def _secret_fields(ctx: CheckContext) -> list[tuple[tuple[str, ...], str, str, str]]:
    """(field path, secret id as written, what it is for, an id to suggest) for every secret the section names."""
    section = ctx.spec.catalog.observability
    out: list[tuple[tuple[str, ...], str, str, str]] = []
    if section.otlp is not None and section.otlp.headers_secret is not None:
        out.append(
            (("otlp", "headers_secret"), section.otlp.headers_secret, "the OTLP headers", "OTLP-HEADERS")
        )
    if section.langfuse is not None:
        langfuse = section.langfuse
        out.append(
            (
                ("langfuse", "public_key_secret"),
                langfuse.public_key_secret,
                "the Langfuse public key",
                "LANGFUSE-PUBLIC",
            )
        )
        out.append(
            (
                ("langfuse", "secret_key_secret"),
                langfuse.secret_key_secret,
                "the Langfuse secret key",
                "LANGFUSE-SECRET",
            )
        )
    return out


def check_observability(ctx: CheckContext) -> list[Finding]:
    section = ctx.spec.catalog.observability
    out: list[Finding] = []
    if section.otlp is not None:
        out.extend(_check_url(ctx, ("otlp", "endpoint"), section.otlp.endpoint))
    if section.langfuse is not None:
        out.extend(_check_url(ctx, ("langfuse", "host"), section.langfuse.host))
    out.extend(_check_secret_ids(ctx))
    return out


def _loc(ctx: CheckContext, path: tuple[str, ...]) -> Location:
    return ctx.spec.locate("observability", *path)


def _check_url(ctx: CheckContext, path: tuple[str, ...], value: str) -> list[Finding]:
    field = "observability." + ".".join(path)
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # echo what was written unless it may carry a credential (user:password@, a token in the query)
        shown = f"got {value[:60]!r}" if not set("@?") & set(value) else f"{len(value)} characters"
        return [
            Finding(
                Severity.ERROR,
                "invalid-url",
                _loc(ctx, path),
                f"{field} is not an http(s) URL with a host ({shown})",
                f"write the full URL, e.g. https://otel.example.com:4318 for {field}",
            )
        ]
    if parts.username is not None or parts.password is not None:
        return [
            Finding(
                Severity.ERROR,
                "literal-secret",
                _loc(ctx, path),
                f"{field} carries credentials in the URL ({len(value)} characters, not repeated here); files are "
                "committed and credentials in them leak",
                "remove the user:password@ part, revoke it, and put it in the headers secret instead "
                f"(`pulumi config set --secret --path '{PROJECT}:secrets.<SECRET-ID>' 'Authorization=Basic …'`)",
            )
        ]
    if parts.scheme == "http" and not _private_host(parts.hostname):
        return [
            Finding(
                Severity.WARNING,
                "plain-http",
                _loc(ctx, path),
                f"{field} sends traces and their credentials unencrypted to {parts.hostname}",
                f"use https:// for {field}, or a collector on the private network (*.railway.internal)",
            )
        ]
    return []


def _private_host(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_private or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost" or host.endswith(_PRIVATE_SUFFIXES)


def _check_secret_ids(ctx: CheckContext) -> list[Finding]:
    out: list[Finding] = []
    owners: dict[str, str] = {
        provider.api_key_secret: f"providers.{name}.api_key_secret"
        for name, provider in ctx.spec.catalog.providers.items()
    }
    for path, value, purpose, example in _secret_fields(ctx):
        field = "observability." + ".".join(path)
        looks_like_key = any(shape.search(value) for shape in _CREDENTIAL_SHAPES)
        if looks_like_key or not _SECRET_ID.match(value):
            out.append(
                Finding(
                    Severity.ERROR,
                    "literal-secret" if looks_like_key else "unsafe-name",
                    _loc(ctx, path),
                    (
                        f"{field} holds what looks like {purpose} itself ({len(value)} characters, not repeated "
                        "here), not the id of the Secret Manager secret that holds it"
                        if looks_like_key
                        else f"{field} is not a Secret Manager secret id ({len(value)} characters; ids are letters, "
                        "digits, '-' and '_')"
                    ),
                    (
                        f"revoke it, put a secret id here (e.g. {example}) and store the value with "
                        f"`pulumi config set --secret --path '{PROJECT}:secrets.<SECRET-ID>' <value>`"
                        if looks_like_key
                        else f"name a secret id such as {example} in {field}"
                    ),
                )
            )
            continue
        first = owners.setdefault(value, field)
        if first != field:
            out.append(
                Finding(
                    Severity.ERROR,
                    "duplicate-secret",
                    _loc(ctx, path),
                    f"{first} and {field} both name secret {value}: one would overwrite the other's value",
                    f"give {purpose} a Secret Manager secret of its own",
                )
            )
    return out
