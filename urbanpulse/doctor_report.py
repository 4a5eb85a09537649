"""What one doctor check found, and how the findings are printed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Status = Literal["OK", "FAIL", "SKIP"]


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
