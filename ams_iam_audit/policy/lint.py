"""parliament, behind one door.

parliament is the only dependency that imports ``pkg_resources`` (hence ``setuptools<81``) and keeps a
module-global mutable configuration; nothing else in this project imports it. We never change its
configuration, and we lint each distinct document text once (identical legacy documents are linted
once, whatever their number). Linting runs on the document as written, not its canonical form:
parliament also judges what the canonical form drops (``Sid`` values, the ``Version``).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from .document import PolicyDocument

__all__ = ["LINT_SEVERITIES", "LintIssue", "lint", "linter_version"]

#: parliament's severities, weakest first.
LINT_SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")


@dataclass(frozen=True)
class LintIssue:
    issue: str  # parliament's code, e.g. "RESOURCE_MISMATCH"
    title: str
    severity: str  # one of LINT_SEVERITIES
    detail: str

    def at_least(self, severity: str) -> bool:
        return LINT_SEVERITIES.index(self.severity) >= LINT_SEVERITIES.index(severity)


@cache
def _parliament() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation, raised at import
        import parliament

    return parliament


def linter_version() -> str:
    return f"parliament {_parliament().__version__}"


@lru_cache(maxsize=8192)
def _lint_text(text: str) -> tuple[LintIssue, ...]:
    parliament = _parliament()
    policy = parliament.analyze_policy_string(text, include_community_auditors=False)
    out = []
    for finding in policy.findings:
        meta = parliament.config.get(finding.issue, {})
        severity = str(meta.get("severity") or finding.severity or "MEDIUM").upper()
        if severity not in LINT_SEVERITIES:
            severity = "MEDIUM"
        detail = finding.detail if isinstance(finding.detail, str) else json.dumps(finding.detail, default=str)
        title = str(meta.get("title") or finding.title or finding.issue)
        out.append(LintIssue(issue=finding.issue, title=title, severity=severity, detail=detail))
    return tuple(out)


def lint(document: PolicyDocument) -> tuple[LintIssue, ...]:
    """parliament's findings on ``document``."""
    return _lint_text(json.dumps(document.raw, sort_keys=True))
