"""Pydantic's validation errors as findings: each names the file, the field, what is wrong and the fix.

Unknown keys get the closest known key ("did you mean"), wrong types the expected type, a missing price its
own code (an unpriced model makes every budget blind).
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from infra.catalog.findings import Finding, Location, Severity
from infra.catalog.yamlsource import Path, dotted


def validation_findings(
    exc: ValidationError,
    model: type[BaseModel],
    locate: typing.Callable[[Path], Location],
    prefix: Path,
) -> list[Finding]:
    out: list[Finding] = []
    for error in exc.errors():
        loc: Path = (*prefix, *(p for p in error["loc"] if not str(p).startswith("function-")))
        kind = error["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            known = _fields_at(model, loc[:-1])
            out.append(
                Finding(
                    Severity.ERROR,
                    "unknown-key",
                    locate(loc),
                    f"unknown key '{key}'{suggest(key, known)}",
                    f"remove it or use one of: {', '.join(known)}" if known else "remove it",
                )
            )
        elif kind == "missing" and loc[-1] == "price_per_mtok":
            out.append(
                Finding(
                    Severity.ERROR,
                    "unpriced-model",
                    locate(loc[:-1]),
                    f"'{loc[-2]}' has no price: LiteLLM would record its spend as $0 and no budget could stop it",
                    f"add price_per_mtok: {{input: <USD>, output: <USD>}} under {dotted(loc[:-1])}",
                    subject=str(loc[-2]),
                )
            )
        elif kind == "missing":
            out.append(
                Finding(
                    Severity.ERROR,
                    "missing-key",
                    locate(loc[:-1]),
                    f"required key '{loc[-1]}' is missing",
                    f"add '{loc[-1]}' under {dotted(loc[:-1]) or 'the top level'}",
                )
            )
        elif kind == "string_pattern_mismatch":
            out.append(
                Finding(
                    Severity.ERROR,
                    "unsafe-name",
                    locate(loc),
                    f"{error['input']!r} is not a safe name here (must match {error['ctx']['pattern']})",
                    "use lower-case letters, digits and single '-', '_' or '.' between them",
                )
            )
        elif kind == "literal_error":
            out.append(
                Finding(
                    Severity.ERROR,
                    "invalid-value",
                    locate(loc),
                    f"{error['input']!r} is not allowed here: {error['msg'].lower()}",
                    f"use {error['ctx']['expected']}",
                )
            )
        else:
            value = error.get("input")
            out.append(
                Finding(
                    Severity.ERROR,
                    "wrong-type" if kind.endswith("_type") or kind.endswith("_parsing") else "invalid-value",
                    locate(loc),
                    f"{error['msg']} (got {value!r})"
                    if not isinstance(value, (dict, list))
                    else error["msg"],
                    _type_fix(model, loc),
                )
            )
    return out


def _type_fix(model: type[BaseModel], loc: Path) -> str:
    annotation = _annotation_at(model, loc)
    if annotation is None:
        return "see the catalog reference in the README"
    return f"give a value of type {_describe(annotation)}"


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _describe(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_describe(a) for a in typing.get_args(annotation))}]"
    return getattr(annotation, "__name__", str(annotation))


def _annotation_at(model: type[BaseModel], loc: Path) -> Any:
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return None
            current = info.annotation
        elif typing.get_origin(current) in (dict, list):
            current = typing.get_args(current)[-1]
        else:
            return None
    return current


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _fields_at(model: type[BaseModel], loc: Path) -> list[str]:
    target = _unwrap(_annotation_at(model, loc) if loc else model)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def suggest(word: str, candidates: typing.Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""
