"""One function turns a stack name into a ``StackSpec``; everything downstream takes a ``StackSpec``.

Loading parses ``stacks/catalog.yaml`` and ``stacks/Pulumi.<stack>.yaml`` once, overlays the stack's
``llmstack:`` settings on the catalog, validates the structure with the pydantic models and remembers where
every value was written, so a finding can name the file, the field and the line.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from infra.catalog.deploy import OVERLAY_SECTIONS, STACK_KEYS, DeploySettings
from infra.catalog.enabled import narrow_to_enabled
from infra.catalog.findings import PROJECT, Finding, Location, Severity
from infra.catalog.models import Catalog
from infra.catalog.validation import suggest, validation_findings
from infra.catalog.yamlsource import Path, YamlDocument, YamlSyntaxError, dotted, parse_yaml

DEFAULT_STACKS_DIR = FsPath("stacks")
CATALOG_NAME = "catalog.yaml"


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def discover_stacks(stacks_dir: FsPath = DEFAULT_STACKS_DIR) -> list[str]:
    """Every ``Pulumi.<stack>.yaml`` in the stacks directory, sorted."""
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


@dataclass(frozen=True)
class SourceMap:
    """Maps a path in the merged catalog to where it was written: the stack file for overridden values."""

    catalog: YamlDocument
    stack: YamlDocument | None
    #: catalog section -> the values the stack overlaid on it (from the stack file or the engine's config)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    stack_file: str = ""

    def locate(self, path: Path) -> Location:
        if (
            path
            and isinstance(path[0], str)
            and path[0] in self.overrides
            and _has_path(self.overrides[path[0]], path[1:])
        ):
            stack_path: Path = ("config", f"{PROJECT}:{path[0]}", *path[1:])
            line = _nearest_line(self.stack, stack_path) if self.stack is not None else None
            return Location(
                self.stack.file if self.stack is not None else self.stack_file, dotted(stack_path), line
            )
        return Location(self.catalog.file, dotted(path), _nearest_line(self.catalog, path))

    def locate_stack_key(self, key: str, *rest: str | int) -> Location:
        path: Path = ("config", f"{PROJECT}:{key}", *rest)
        if self.stack is None:
            return Location(self.stack_file, dotted(path))
        return Location(self.stack.file, dotted(path), _nearest_line(self.stack, path))


def _has_path(data: Any, path: Path) -> bool:
    for part in path:
        if isinstance(part, int):
            if not isinstance(data, list) or not 0 <= part < len(data):
                return False
            data = data[part]
        else:
            if not isinstance(data, Mapping) or part not in data:
                return False
            data = data[part]
    return True


def _nearest_line(doc: YamlDocument, path: Path) -> int | None:
    for end in range(len(path), -1, -1):
        line = doc.lines.get(tuple(path[:end]))
        if line is not None:
            return line
    return None


@dataclass(frozen=True)
class StackSpec:
    """Everything one stack is: the merged catalog (enabled groups only) and its deployment settings."""

    name: str
    catalog: Catalog
    deploy: DeploySettings
    sources: SourceMap
    #: groups the catalog declares that this stack does not enable
    disabled_models: tuple[str, ...] = ()
    #: findings made while loading that are not errors (dropped fallbacks, ...)
    load_notes: tuple[Finding, ...] = ()
    #: secret values the stack supplies, by Secret Manager secret id (from Pulumi config, never a file)
    secret_ids_with_values: frozenset[str] = frozenset()
    #: the catalog as written, before this stack's overlay and narrowing (None when it is not valid on its own):
    #: the checks run on it too, because a new stack would inherit its values
    catalog_defaults: Catalog | None = None

    def locate(self, *path: str | int) -> Location:
        return self.sources.locate(tuple(path))

    @property
    def documents(self) -> list[YamlDocument]:
        docs = [self.sources.catalog]
        if self.sources.stack is not None:
            docs.append(self.sources.stack)
        return docs


@dataclass(frozen=True)
class LoadResult:
    stack: str
    spec: StackSpec | None
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return self.spec is not None and not any(f.is_error for f in self.findings)


def display_path(path: FsPath, root: FsPath) -> str:
    """How findings name a file: relative to the project root when inside it, so output is the same anywhere."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def find_project_root(start: FsPath | None = None) -> FsPath:
    """The nearest directory at or above ``start`` holding ``Pulumi.yaml``; ``start`` itself when none does."""
    here = (start or FsPath.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").exists():
            return candidate
    return here


def read_document(path: FsPath, display: str | None = None) -> YamlDocument:
    return parse_yaml(path.read_text(encoding="utf-8"), display or str(path))


def load_stack(
    stack: str,
    *,
    stacks_dir: FsPath = DEFAULT_STACKS_DIR,
    catalog_path: FsPath | None = None,
    stack_config: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Load one stack from files.

    ``stack_config`` replaces the stack file's ``config:`` block when given: the Pulumi program passes what the
    engine resolved, so ``pulumi config set`` and ``--config`` win exactly as they do for the engine. The stack
    file is still read (when present) to point findings at lines.
    """
    root = find_project_root(stacks_dir)
    catalog_path = catalog_path or stacks_dir / CATALOG_NAME
    try:
        catalog_doc = read_document(catalog_path, display_path(catalog_path, root))
    except FileNotFoundError:
        return LoadResult(
            stack, None, [_missing(display_path(catalog_path, root), "the catalog", "create it (see README)")]
        )
    except YamlSyntaxError as exc:
        return LoadResult(stack, None, [_yaml_finding(exc)])
    stack_path = stacks_dir / stack_file_name(stack)
    stack_doc: YamlDocument | None
    try:
        stack_doc = read_document(stack_path, display_path(stack_path, root))
    except FileNotFoundError:
        if stack_config is None:
            known = ", ".join(discover_stacks(stacks_dir)) or "none"
            return LoadResult(
                stack,
                None,
                [
                    _missing(
                        display_path(stack_path, root),
                        f"stack {stack!r}",
                        f"create it, or use one of the known stacks: {known}",
                    )
                ],
            )
        stack_doc = None
    except YamlSyntaxError as exc:
        return LoadResult(stack, None, [_yaml_finding(exc)])
    return build_spec(stack, catalog_doc, stack_doc, stack_config)


def build_spec(
    stack: str,
    catalog_doc: YamlDocument,
    stack_doc: YamlDocument | None,
    stack_config: Mapping[str, Any] | None = None,
) -> LoadResult:
    findings: list[Finding] = []
    if stack_config is None:
        file_config = stack_doc.data.get("config") if stack_doc and isinstance(stack_doc.data, dict) else None
        stack_config = file_config if isinstance(file_config, Mapping) else {}
    ours = _our_keys(stack_config)

    stack_display = stack_doc.file if stack_doc is not None else f"stacks/{stack_file_name(stack)}"

    def stack_loc(key: str, *rest: str | int) -> Location:
        return SourceMap(catalog_doc, stack_doc, stack_file=stack_display).locate_stack_key(key, *rest)

    for key in ours:
        if key not in STACK_KEYS:
            findings.append(
                Finding(
                    Severity.ERROR,
                    "unknown-key",
                    stack_loc(key),
                    f"unknown stack setting '{PROJECT}:{key}'{suggest(key, STACK_KEYS)}",
                    f"use one of: {', '.join(PROJECT + ':' + k for k in STACK_KEYS)}",
                )
            )

    raw = copy.deepcopy(catalog_doc.data) if isinstance(catalog_doc.data, dict) else None
    if raw is None:
        return LoadResult(
            stack,
            None,
            [
                Finding(
                    Severity.ERROR,
                    "wrong-type",
                    Location(catalog_doc.file, "", 1),
                    "the catalog must be a mapping with providers, models, fallbacks, routes, router and budget",
                    "start from the shipped stacks/catalog.yaml",
                )
            ],
        )
    overlaid: dict[str, Any] = {}
    for section in OVERLAY_SECTIONS:
        if section not in ours:
            continue
        value = ours[section]
        if not isinstance(value, Mapping):
            findings.append(
                Finding(
                    Severity.ERROR,
                    "wrong-type",
                    stack_loc(section),
                    f"'{PROJECT}:{section}' must be a mapping of fields to override, got {type(value).__name__}",
                    f"write it as a mapping, e.g. {PROJECT}:{section}: {{<field>: <value>}}",
                )
            )
            continue
        base = raw.get(section)
        raw[section] = _deep_merge(base if isinstance(base, dict) else {}, value)
        overlaid[section] = value
    sources = SourceMap(catalog_doc, stack_doc, overlaid, stack_display)

    # the catalog's own sections, validated on their own: a value every stack overrides today is still what a
    # new stack would inherit
    defaults, default_findings = validate_catalog_defaults(catalog_doc)
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        findings.extend(validation_findings(exc, Catalog, sources.locate, ()))
        findings.extend(inherited_only(default_findings, findings))
        return LoadResult(stack, None, findings)
    findings.extend(inherited_only(default_findings, findings))

    deploy_raw = {k: ours[k] for k in ("railway", "telegram", "services") if k in ours}
    try:
        deploy = DeploySettings.model_validate(deploy_raw)
    except ValidationError as exc:
        findings.extend(validation_findings(exc, DeploySettings, lambda p: stack_loc(str(p[0]), *p[1:]), ()))
        return LoadResult(stack, None, findings)

    secrets = ours.get("secrets", {})
    secret_ids: frozenset[str] = frozenset()
    if isinstance(secrets, Mapping):
        secret_ids = frozenset(str(k) for k in secrets)
    else:
        findings.append(
            Finding(
                Severity.ERROR,
                "wrong-type",
                stack_loc("secrets"),
                f"'{PROJECT}:secrets' must map Secret Manager ids to secret values",
                f"set each with: pulumi config set --secret --path '{PROJECT}:secrets.<SECRET-ID>' <value>",
            )
        )

    catalog, disabled, notes, enable_findings = narrow_to_enabled(
        catalog, ours.get("enabled_models"), stack_loc
    )
    findings.extend(enable_findings)
    if any(f.is_error for f in findings):
        return LoadResult(stack, None, findings)
    spec = StackSpec(
        name=stack,
        catalog=catalog,
        deploy=deploy,
        sources=sources,
        disabled_models=disabled,
        load_notes=tuple(notes),
        secret_ids_with_values=secret_ids,
        catalog_defaults=defaults,
    )
    return LoadResult(stack, spec, findings + list(notes))


def validate_catalog_defaults(catalog_doc: YamlDocument) -> tuple[Catalog | None, list[Finding]]:
    """The catalog exactly as written, before any stack overlays it: what a new stack would inherit."""
    sources = SourceMap(catalog_doc, None)
    try:
        return Catalog.model_validate(copy.deepcopy(catalog_doc.data)), []
    except ValidationError as exc:
        return None, validation_findings(exc, Catalog, sources.locate, ())


INHERITED_NOTE = (
    " (the catalog's own default: this stack overrides it, but a stack that does not would inherit it)"
)


def inherited_only(
    default_findings: typing.Iterable[Finding], stack_findings: list[Finding]
) -> list[Finding]:
    """Findings about the catalog's own defaults that the merged stack does not already report, marked as such.

    A finding the merged stack reports at the same place with the same code is the same problem: it is
    reported once. Information (and waived findings, which become information) is not repeated.
    """
    seen = {(f.code, f.location) for f in stack_findings}
    return [
        dataclasses.replace(f, message=f.message + INHERITED_NOTE)
        for f in default_findings
        if f.severity is not Severity.INFO and (f.code, f.location) not in seen
    ]


def _our_keys(config: Mapping[str, Any]) -> dict[str, Any]:
    ours: dict[str, Any] = {}
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if name and namespace == PROJECT:
            ours[name] = value
    return ours


def _deep_merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _missing(file: str, what: str, fix: str) -> Finding:
    return Finding(Severity.ERROR, "missing-file", Location(file, ""), f"{what} is missing: {file}", fix)


def _yaml_finding(exc: YamlSyntaxError) -> Finding:
    code = "duplicate-key" if exc.message.startswith("duplicate key") else "yaml-syntax"
    return Finding(Severity.ERROR, code, Location(exc.file, exc.field, exc.line), exc.message, exc.fix)
