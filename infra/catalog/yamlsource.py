"""YAML loading that keeps where every value was written and refuses duplicate keys.

PyYAML silently keeps the last of two equal keys; a catalog edited by hand must not lose a value that way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """A parsed YAML file: its data and the line each path starts on."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    text: str = ""


class YamlSyntaxError(Exception):
    def __init__(self, file: str, line: int | None, field: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        self.fix = fix


def dotted(path: Path) -> str:
    """``("models", "gpt-4o", "capabilities", 1)`` -> ``models.gpt-4o.capabilities[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def parse_yaml(text: str, file: str) -> YamlDocument:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise YamlSyntaxError(
            file,
            mark.line + 1 if mark else None,
            "",
            f"not valid YAML: {exc.problem}",
            "fix the YAML syntax at that line (indentation, quoting, a missing colon)",
        ) from exc
    finally:
        loader.dispose()
    doc = YamlDocument(file=file, data=None, text=text)
    if node is None:
        doc.data = {}
        return doc
    constructor = yaml.SafeLoader("")
    doc.data = _build(node, (), doc, constructor)
    return doc


def _build(node: yaml.Node, path: Path, doc: YamlDocument, constructor: yaml.SafeLoader) -> Any:
    doc.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = constructor.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                raise YamlSyntaxError(
                    doc.file,
                    key_node.start_mark.line + 1,
                    dotted(path),
                    f"a mapping key must be a plain value, not {type(key).__name__}",
                    "write the key as a plain string",
                )
            key = str(key) if not isinstance(key, str) else key
            if key in out:
                first = doc.lines.get((*path, key))
                raise YamlSyntaxError(
                    doc.file,
                    key_node.start_mark.line + 1,
                    dotted((*path, key)),
                    f"duplicate key {key!r} (first written on line {first}); YAML would silently keep only "
                    "the last one",
                    "remove one of the two entries or merge them",
                )
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), doc, constructor)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, constructor) for i, item in enumerate(node.value)]
    return constructor.construct_object(node, deep=True)


def iter_strings(data: Any, path: Path = ()) -> list[tuple[Path, str]]:
    """Every string value (and key) in a parsed document, with its path."""
    found: list[tuple[Path, str]] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            found.append(((*path, key), str(key)))
            found.extend(iter_strings(value, (*path, key)))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            found.extend(iter_strings(item, (*path, i)))
    elif isinstance(data, str):
        found.append((path, data))
    return found
