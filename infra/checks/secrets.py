"""No literal key in a catalog or stack file, stack secret values encrypted, one secret per provider."""

from __future__ import annotations

import re
from collections.abc import Mapping

from infra.catalog import PROJECT, Finding, Location, Severity
from infra.catalog.yamlsource import YamlDocument, dotted
from infra.checks.context import CheckContext

#: shapes of real credentials (provider keys, Telegram bot tokens); the match itself is never printed
_KEY_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an Anthropic API key", re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")),
    ("an OpenAI API key", re.compile(r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("a Google API key", re.compile(r"AIza[0-9A-Za-z_-]{30,}")),
    ("a Telegram bot token", re.compile(r"(?<![0-9])[0-9]{8,10}:[A-Za-z0-9_-]{30,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)


def _mask(secret: str) -> str:
    return f"{secret[:4]}… ({len(secret)} characters)"


def _path_on_line(doc: YamlDocument, line: int) -> str:
    on_line = [path for path, at in doc.lines.items() if at == line]
    return dotted(max(on_line, key=len)) if on_line else ""


def check_literal_secrets(ctx: CheckContext) -> list[Finding]:
    out: list[Finding] = []
    for doc in ctx.spec.documents:
        for number, text in enumerate(doc.text.splitlines(), start=1):
            if re.match(r"^\s*secure\s*:", text):
                continue  # Pulumi ciphertext
            for what, shape in _KEY_SHAPES:
                match = shape.search(text)
                if match is None:
                    continue
                out.append(
                    Finding(
                        Severity.ERROR,
                        "literal-secret",
                        Location(doc.file, _path_on_line(doc, number), number),
                        f"this line holds what looks like {what} ({_mask(match.group(0))}); files are committed "
                        "and keys in them leak",
                        "remove it, revoke the key, and store it with "
                        f"`pulumi config set --secret --path '{PROJECT}:secrets.<SECRET-ID>' <value>` "
                        "or directly in Secret Manager",
                    )
                )
                break
    out.extend(_stack_secret_values_encrypted(ctx))
    return out


def _stack_secret_values_encrypted(ctx: CheckContext) -> list[Finding]:
    stack = ctx.spec.sources.stack
    if stack is None or not isinstance(stack.data, Mapping):
        return []
    config = stack.data.get("config")
    if not isinstance(config, Mapping):
        return []
    plain: list[tuple[tuple[str, ...], str]] = []
    token = config.get(f"{PROJECT}:railway_token")
    if token is not None and not _encrypted(token):
        plain.append((("config", f"{PROJECT}:railway_token"), f"{PROJECT}:railway_token"))
    values = config.get(f"{PROJECT}:secrets")
    if isinstance(values, Mapping):
        for secret_id, value in values.items():
            if not _encrypted(value):
                plain.append((("config", f"{PROJECT}:secrets", secret_id), f"{PROJECT}:secrets.{secret_id}"))
    return [
        Finding(
            Severity.ERROR,
            "literal-secret",
            Location(stack.file, dotted(path), stack.lines.get(path)),
            f"the value of {key} is stored in plain text in the stack file",
            f"run `pulumi config set --secret --path '{key}' <value>` to encrypt it",
        )
        for path, key in plain
    ]


def _encrypted(value: object) -> bool:
    return isinstance(value, Mapping) and set(value) == {"secure"}


def check_secret_ids(ctx: CheckContext) -> list[Finding]:
    spec, catalog = ctx.spec, ctx.spec.catalog
    out: list[Finding] = []
    owners: dict[str, str] = {}
    envs: dict[str, str] = {}
    for name, provider in catalog.providers.items():
        first = owners.setdefault(provider.api_key_secret, name)
        if first != name:
            out.append(
                Finding(
                    Severity.ERROR,
                    "duplicate-secret",
                    spec.locate("providers", name, "api_key_secret"),
                    f"providers {first} and {name} both read their key from secret {provider.api_key_secret}",
                    "give each provider its own Secret Manager secret",
                )
            )
        env = provider.resolved_env(name)
        first_env = envs.setdefault(env, name)
        if first_env != name:
            out.append(
                Finding(
                    Severity.ERROR,
                    "duplicate-secret",
                    spec.locate("providers", name, "api_key_env"),
                    f"providers {first_env} and {name} would both read environment variable {env}",
                    f"set providers.{name}.api_key_env to a name of its own",
                )
            )
    return out
