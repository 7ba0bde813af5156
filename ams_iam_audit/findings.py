"""Findings: the one record every outcome becomes, and the versioned results file that holds them.

A :class:`Finding` is rule + resource + outcome + structured evidence + remediation. The results
document (``findings.json``) is what every report is rendered from and what a later run compares
against; its shape is versioned by ``format``/``version``. Nothing secret goes in: every string in it
(messages, evidence, coverage errors, resource names) passes ``jsonio.scrub`` before it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .jsonio import jsonable, scrub

__all__ = [
    "FINDINGS_FORMAT",
    "FINDINGS_VERSION",
    "Evidence",
    "Finding",
    "Outcome",
    "failure_message",
    "findings_document",
]

FINDINGS_FORMAT = "ams-iam-audit/findings"
FINDINGS_VERSION = 1


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WAIVED = "waived"
    ERROR = "error"
    FIXED = "fixed"
    NOT_APPLICABLE = "not-applicable"


class Evidence:
    """What a rule records for the auditor while it judges one resource (the ``evidence`` fixture).

    ``add(name=value, …)`` records items (any JSON-able value, dataclasses included);
    ``severity = "medium"`` overrides the rule's severity for this resource (rules grade by breadth).
    """

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.severity: str | None = None

    def add(self, **items: Any) -> None:
        self.items.update({k: jsonable(v) for k, v in items.items()})


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    severity: str  # the rule's, or what the rule graded this resource at
    area: str
    outcome: Outcome
    resource: str  # readable id, e.g. "role/codebuild_role"
    resource_arn: str | None
    message: str
    remediation: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    nodeid: str = ""
    #: the waiver that matched a failure (``status`` "active": the finding is waived; "expired": it
    #: stopped applying and the finding fails)
    waiver: Mapping[str, Any] | None = None
    #: with ``--baseline``: "new" (fails the run) or "unchanged" (known, does not fail the run)
    baseline: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "title": scrub(self.title),
            "severity": self.severity,
            "area": self.area,
            "outcome": self.outcome.value,
            "resource": scrub(self.resource),
            "resource_arn": scrub(self.resource_arn) if self.resource_arn is not None else None,
            "message": scrub(self.message),
            "remediation": scrub(self.remediation),
            "evidence": jsonable(self.evidence),
            "nodeid": scrub(self.nodeid),
            "waiver": jsonable(self.waiver),
            "baseline": self.baseline,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        return cls(
            rule_id=data["rule_id"],
            title=data["title"],
            severity=data["severity"],
            area=data["area"],
            outcome=Outcome(data["outcome"]),
            resource=data["resource"],
            resource_arn=data.get("resource_arn"),
            message=data.get("message", ""),
            remediation=data.get("remediation", ""),
            evidence=data.get("evidence") or {},
            nodeid=data.get("nodeid", ""),
            waiver=data.get("waiver"),
            baseline=data.get("baseline"),
        )

    @property
    def key(self) -> tuple[str, str]:
        """Identifies the same problem across runs: rule and resource."""
        return (self.rule_id, self.resource)


def failure_message(exc: BaseException) -> str:
    """A failed rule's message: pytest's assertion rewriting appends "assert <expression>"; drop it."""
    text = str(exc).strip()
    head = text.split("\nassert ", 1)[0].strip()
    return head or type(exc).__name__


def findings_document(
    findings: Iterable[Finding],
    rules: Iterable[Mapping[str, Any]],
    run: Mapping[str, Any],
    coverage: Iterable[Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document. ``extra`` adds the optional sections: ``waivers`` (every waiver and
    whether it applied), ``baseline`` (new, unchanged and resolved findings) and ``fix``."""
    ordered = sorted(findings, key=lambda f: (f.rule_id, f.resource))
    return {
        "format": FINDINGS_FORMAT,
        "version": FINDINGS_VERSION,
        "run": jsonable(dict(run)),
        "coverage": jsonable(list(coverage)),
        "rules": jsonable(sorted(rules, key=lambda r: r["id"])),
        "findings": [f.to_json() for f in ordered],
        **jsonable(dict(extra or {})),
    }
