"""Findings: what every check reports, naming file, field, problem and fix."""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: the Pulumi project, and so the namespace of a stack file's settings (``llmstack:<key>``) findings point at
PROJECT = "llmstack"


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, order=True)
class Location:
    """Where a value was written: a file, the field path inside that file, and the line when known."""

    file: str
    field: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}" if self.field else where


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    location: Location
    message: str
    fix: str
    #: the model group or route the finding is about, so catalog waivers can match it
    subject: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        return f"{self.location}: {self.severity.value}[{self.code}]: {self.message}\n    fix: {self.fix}"

    def as_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "file": self.location.file,
            "field": self.location.field,
            "line": self.location.line,
            "message": self.message,
            "fix": self.fix,
            "subject": self.subject,
        }


class InvalidStackError(Exception):
    """Raised where a caller needs a valid stack and the stack has errors (the Pulumi entry point)."""

    def __init__(self, stack: str, findings: list[Finding]) -> None:
        self.stack = stack
        self.findings = findings
        errors = [f for f in findings if f.is_error]
        body = "\n".join(f.format() for f in errors)
        super().__init__(
            f"stack {stack!r} is invalid ({len(errors)} error(s)); nothing was deployed:\n{body}"
        )
