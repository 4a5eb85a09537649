"""What one doctor check found, and how the findings are printed."""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "FAIL", "SKIP", "INFO"]


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: a check, what it saw, and the fix of a problem."""

    check: str
    status: Status
    detail: str
    fix: str = ""

    @classmethod
    def ok(cls, check: str, detail: str) -> Finding:
        """Return a passed check."""
        return cls(check, "OK", detail)

    @classmethod
    def fail(cls, check: str, detail: str, fix: str) -> Finding:
        """Return a problem with its fix."""
        return cls(check, "FAIL", detail, fix)

    @classmethod
    def skip(cls, check: str, detail: str) -> Finding:
        """Return a check that could not run for want of a setting."""
        return cls(check, "SKIP", detail)

    @classmethod
    def info(cls, check: str, detail: str) -> Finding:
        """Return something worth knowing that is not a problem for this kind of stack."""
        return cls(check, "INFO", detail)


def unreachable(exc: BaseException) -> str:
    """Say in plain words why a connection failed, from the OS error under `exc`.

    HTTP clients wrap the socket error in layers whose text repeats addresses and
    object reprs; the errno at the bottom is what a person needs.
    """
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TimeoutError) or "timed out" in str(current).lower():
            return "no answer in time"
        if isinstance(current, OSError) and current.errno:
            return os.strerror(current.errno).lower()
        if isinstance(current, socket.gaierror):
            return "unknown host name"
        pending += [item for item in (current.__cause__, current.__context__,
                                      *current.args) if isinstance(item, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
    return "the connection failed"


def render(findings: Sequence[Finding]) -> str:
    """Return the report: one line per finding, each problem followed by its fix."""
    lines = []
    for finding in findings:
        lines.append(f"{finding.status:<4}  {finding.check}: {finding.detail}")
        if finding.fix:
            lines.append(f"      fix: {finding.fix}.")
    failed = sum(finding.status == "FAIL" for finding in findings)
    lines.append(f"{failed} problem{'s' if failed != 1 else ''} found." if failed
                 else "No problem found.")
    return "\n".join(lines)
