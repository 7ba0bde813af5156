"""Findings: the one record every outcome becomes, and the versioned results file that holds them.

A :class:`Finding` is rule + resource + outcome + structured evidence + remediation. The results
document (``findings.json``) is what every report is rendered from and what a later run compares
against; its shape is versioned by ``format``/``version``. Nothing secret goes in: every string in it
(messages, evidence, coverage errors, resource names) passes ``jsonio.scrub`` before it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any

from ..jsonio import jsonable, scrub

__all__ = [
    "EXAMINED",
    "FINDINGS_FORMAT",
    "FINDINGS_VERSION",
    "OUTCOMES",
    "SEVERITIES",
    "Evidence",
    "Finding",
    "Outcome",
    "compliance_section",
    "control_catalogue",
    "examined_resources",
    "failure_message",
    "findings_document",
    "findings_head",
    "report_order",
    "subjects_counted",
]

FINDINGS_FORMAT = "ams-iam-audit/findings"
FINDINGS_VERSION = 1


#: A finding's severities, most severe first: the order of every report, table and sort.
SEVERITIES = ("critical", "high", "medium", "low", "info")
#: A finding's outcomes in the order reports show them: what needs action first.
OUTCOMES = ("fail", "error", "waived", "fixed", "pass", "not-applicable")

#: The resource of a rule's ``examined`` case: one pass standing for every subject of its scope that
#: held nothing the rule judges (``scopes.Examined``); its evidence item ``examined`` (the one key it
#: reserves) counts them and lists them under ``resources``.
EXAMINED = "examined"


def examined_resources(resource: str, evidence: Mapping[str, Any] | None) -> list[str] | None:
    """The subjects an ``examined`` case stands for (``None`` for any other finding): every count of
    passes (report, terminal, organization, baseline) counts each of them, not the one case."""
    if resource != EXAMINED or not isinstance(evidence, Mapping):
        return None
    examined = evidence.get(EXAMINED)
    listed = examined.get("resources") if isinstance(examined, Mapping) else None
    return [str(r) for r in listed] if isinstance(listed, list) else None


def subjects_counted(resource: str, evidence: Mapping[str, Any] | None) -> int:
    """How many subjects one finding speaks for: 1, or an examined case's count."""
    listed = examined_resources(resource, evidence)
    return 1 if listed is None else len(listed)


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

    __slots__ = ("items", "severity")

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.severity: str | None = None

    def add(self, **items: Any) -> None:
        self.items.update({k: jsonable(v) for k, v in items.items()})


@dataclass(frozen=True, slots=True)
class Finding:
    """One judged case. Slotted: the maximum quotas hold about 110,000 of them to the end of the run."""

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
    whether it applied), ``baseline`` (new, unchanged and resolved findings) and ``fix``. The
    report writes the same document as a stream (:func:`findings_head`, then each finding)."""
    ordered = report_order(findings)
    document = findings_head(ordered, rules, run, coverage, extra)
    document["findings"] = [f.to_json() for f in ordered]
    return document


def report_order(findings: Iterable[Finding]) -> list[Finding]:
    """The findings in the order of the results document: by rule, then resource."""
    return sorted(findings, key=lambda f: (f.rule_id, f.resource))


def findings_head(
    ordered: Sequence[Finding],
    rules: Iterable[Mapping[str, Any]],
    run: Mapping[str, Any],
    coverage: Iterable[Mapping[str, Any]],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The results document around its findings (``findings`` an empty list): what
    :func:`findings_document` holds but the findings' JSON, with the compliance view already counted
    from ``ordered`` (:func:`report_order`), whose JSON the writer encodes one at a time."""
    rule_list = jsonable(sorted(rules, key=lambda r: r["id"]))
    tallied = ({"rule_id": f.rule_id, "outcome": f.outcome.value, "resource": scrub(f.resource)} for f in ordered)
    extra_json = jsonable(dict(extra or {}))
    if "findings" in extra_json:
        raise ValueError("findings_document: extra must not hold a 'findings' section")
    return {
        "format": FINDINGS_FORMAT,
        "version": FINDINGS_VERSION,
        "run": jsonable(dict(run)),
        "coverage": jsonable(list(coverage)),
        "rules": rule_list,
        "findings": [],
        "compliance": compliance_section(rule_list, tallied),
        **extra_json,
    }


@cache
def control_catalogue() -> tuple[dict[str, Any], ...]:
    """The frameworks of the compliance view, each with every control of its scope in order, from
    ``data/compliance_controls.json`` (which names the source document of each list)."""
    text = files("ams_iam_audit").joinpath("data/compliance_controls.json").read_text(encoding="utf-8")
    return tuple(json.loads(text)["frameworks"])


#: A control's status from what its rules found, worst first: any failing resource fails it; else
#: any resource that could not be judged makes it an error; else it passes if a rule judged at least
#: one resource (waived failures pass, with the waiver shown); a control no rule judged is not assessed.
CONTROL_STATUSES = ("fail", "error", "pass", "not assessed")


def compliance_section(
    rules: Iterable[Mapping[str, Any]], findings: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The compliance view, per framework and control: status (:data:`CONTROL_STATUSES`), the rules
    mapped to it, and the distinct resources failing or erroring under them. Built from the JSON of
    rules and findings, so ``ams-iam-audit report`` rebuilds the same view from an older file. A
    control a rule maps that the catalogue lacks is still reported (after the catalogue's own)."""
    rules = list(rules)
    by_rule: dict[str, dict[str, Any]] = {
        str(r["id"]): {"judged": 0, "failing": set(), "erroring": set(), "waived": 0} for r in rules
    }
    for f in findings:
        tally = by_rule.setdefault(str(f["rule_id"]), {"judged": 0, "failing": set(), "erroring": set(), "waived": 0})
        outcome = f["outcome"]
        if outcome != "not-applicable":
            tally["judged"] += 1
        if outcome == "fail":
            tally["failing"].add(f["resource"])
        elif outcome == "error":
            tally["erroring"].add(f["resource"])
        elif outcome == "waived":
            tally["waived"] += 1
    sections = []
    for framework in control_catalogue():
        mapped: dict[str, list[str]] = {}
        for r in rules:
            for control in (r.get("controls") or {}).get(framework["key"]) or ():
                mapped.setdefault(str(control), []).append(str(r["id"]))
        known = [c["id"] for c in framework["controls"]]
        titles = {c["id"]: c["title"] for c in framework["controls"]}
        controls = []
        for control in known + sorted(set(mapped) - set(known)):
            rule_ids = sorted(mapped.get(control, ()))
            tallies = [by_rule[r] for r in rule_ids if r in by_rule]
            failing = {(r, x) for r in rule_ids for x in by_rule.get(r, {}).get("failing", ())}
            erroring = {(r, x) for r in rule_ids for x in by_rule.get(r, {}).get("erroring", ())}
            if failing:
                status = "fail"
            elif erroring:
                status = "error"
            elif any(t["judged"] for t in tallies):
                status = "pass"
            else:
                status = "not assessed"
            controls.append(
                {
                    "id": control,
                    "title": titles.get(control, "not in the control catalogue"),
                    "status": status,
                    "rules": rule_ids,
                    "failing_resources": len({x for _, x in failing}),
                    "error_resources": len({x for _, x in erroring}),
                    "waived": sum(t["waived"] for t in tallies),
                }
            )
        sections.append(
            {
                "framework": framework["key"],
                "name": framework["name"],
                "source": framework["source"],
                "controls": controls,
            }
        )
    return sections
