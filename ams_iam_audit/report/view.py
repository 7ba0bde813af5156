"""What every report shows, computed once from a findings document (never from AWS): counts by
outcome and severity, a row per rule, the sections per rule with their findings, coverage gaps,
waivers and the baseline comparison. The HTML and Markdown templates only lay this out."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

__all__ = [
    "OUTCOMES",
    "SEVERITIES",
    "EvidenceView",
    "FindingView",
    "ReportView",
    "RuleView",
    "build_view",
    "marked_json",
]

SEVERITIES = ("critical", "high", "medium", "low", "info")
OUTCOMES = ("fail", "error", "waived", "fixed", "pass", "not-applicable")
#: Longest JSON shown for one piece of evidence; findings.json keeps all of it.
EVIDENCE_LIMIT = 4000
_SPECIAL = ("statements", "fix", "planned_fix", "before", "after")


def marked_json(value: Any, marks: Iterable[str] = (), limit: int = EVIDENCE_LIMIT) -> Markup:
    """``value`` as indented JSON, HTML-escaped, with each string in ``marks`` wrapped in <mark>."""
    text = json.dumps(value, indent=2, sort_keys=False, default=str)
    cut = len(text) > limit
    if cut:
        text = text[:limit]
    html = str(escape(text))
    for token in sorted(set(marks), key=len, reverse=True):
        quoted = str(escape(json.dumps(token)))
        html = html.replace(quoted, f"<mark>{quoted}</mark>")
    if cut:
        html += "\n… (shortened: the whole evidence is in findings.json)"
    return Markup(html)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _statement_marks(item: Mapping[str, Any]) -> set[str]:
    """The offending parts of a statement: wildcard actions and those the rule matched, wildcard
    and named offending resources."""
    statement = item.get("statement") or {}
    matched = {str(a).lower() for a in item.get("actions") or ()}
    marks = set()
    for key in ("Action", "NotAction"):
        for entry in _list(statement.get(key)):
            if isinstance(entry, str) and (
                "*" in entry or "?" in entry or entry.lower() in matched or key == "NotAction"
            ):
                marks.add(entry)
    for key in ("Resource", "NotResource"):
        for entry in _list(statement.get(key)):
            if isinstance(entry, str) and (entry in (item.get("wildcard_resources") or ()) or entry.endswith("*")):
                marks.add(entry)
    return marks


@dataclass(frozen=True)
class EvidenceView:
    statements: tuple[tuple[str, Markup], ...]  # (heading, marked JSON)
    fix: Mapping[str, Any] | None
    fix_kind: str | None  # "done" (--fix ran) or "planned" (--fix-dry-run)
    before: Markup | None
    after: Markup | None
    rest: Markup | None


def _evidence(evidence: Mapping[str, Any]) -> EvidenceView:
    statements = []
    for item in evidence.get("statements") or ():
        if isinstance(item, Mapping) and "statement" in item:
            heading = f"statement {item.get('statement_index')}" + (f" ({item['sid']})" if item.get("sid") else "")
            statements.append((heading, marked_json(item.get("statement"), _statement_marks(item))))
    fix = evidence.get("fix") if isinstance(evidence.get("fix"), Mapping) else None
    planned = evidence.get("planned_fix") if isinstance(evidence.get("planned_fix"), Mapping) else None
    rest = {k: v for k, v in evidence.items() if k not in _SPECIAL}
    if statements and isinstance(evidence.get("statements"), list):
        rest["statements"] = [
            {k: v for k, v in item.items() if k != "statement"}
            for item in evidence["statements"]
            if isinstance(item, Mapping)
        ]
    return EvidenceView(
        statements=tuple(statements),
        fix=fix or planned,
        fix_kind="done" if fix else "planned" if planned else None,
        before=marked_json(evidence["before"]) if "before" in evidence else None,
        after=marked_json(evidence["after"]) if "after" in evidence else None,
        rest=marked_json(rest) if rest else None,
    )


@dataclass(frozen=True)
class FindingView:
    data: Mapping[str, Any]
    evidence: EvidenceView | None  # None for passes: nothing to show but the resource

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class RuleView:
    meta: Mapping[str, Any]
    counts: Counter[str] = field(default_factory=Counter)
    findings: list[FindingView] = field(default_factory=list)  # everything but passes
    passed: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.meta["id"])

    @property
    def checked(self) -> int:
        return sum(v for k, v in self.counts.items() if k != "not-applicable")


@dataclass
class ReportView:
    document: Mapping[str, Any]
    rules: list[RuleView]
    outcomes: Counter[str]
    failing_by_severity: Counter[str]
    gaps: list[Mapping[str, Any]]

    @property
    def run(self) -> Mapping[str, Any]:
        return dict(self.document.get("run") or {})

    @property
    def waivers(self) -> list[Mapping[str, Any]]:
        return list(self.document.get("waivers") or [])

    @property
    def baseline(self) -> Mapping[str, Any] | None:
        return self._section("baseline")

    @property
    def fix(self) -> Mapping[str, Any] | None:
        return self._section("fix")

    def _section(self, name: str) -> Mapping[str, Any] | None:
        value = self.document.get(name)
        return dict(value) if isinstance(value, Mapping) else None

    @property
    def failed(self) -> int:
        return self.outcomes["fail"] + self.outcomes["error"]

    def chart(self, width: int = 320) -> list[dict[str, Any]]:
        """Bars for the inline SVG chart: failing findings by severity."""
        most = max(self.failing_by_severity.values(), default=0) or 1
        return [
            {
                "severity": s,
                "count": self.failing_by_severity[s],
                "width": round(width * self.failing_by_severity[s] / most),
                "y": i * 22,
            }
            for i, s in enumerate(SEVERITIES)
        ]


def build_view(document: Mapping[str, Any], *, with_evidence: bool = True) -> ReportView:
    rules = {r["id"]: RuleView(meta=r) for r in document.get("rules", [])}
    outcomes: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    for f in document.get("findings", []):
        view = rules.setdefault(
            f["rule_id"],
            RuleView(meta={"id": f["rule_id"], "title": f["title"], "severity": f["severity"], "area": f["area"]}),
        )
        outcome = f["outcome"]
        view.counts[outcome] += 1
        outcomes[outcome] += 1
        if outcome in ("fail", "error"):
            failing[f["severity"]] += 1
        if outcome == "pass":
            view.passed.append(f["resource"])
        elif outcome == "not-applicable":
            view.not_applicable.append(f["message"])
        else:
            view.findings.append(FindingView(f, _evidence(f.get("evidence") or {}) if with_evidence else None))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    for view in rules.values():
        view.findings.sort(
            key=lambda v: (OUTCOMES.index(v.data["outcome"]), order.get(v.data["severity"], 9), v.data["resource"])
        )
    gaps = [c for c in document.get("coverage", []) if not c.get("readable", True)]
    return ReportView(
        document=document,
        rules=sorted(rules.values(), key=lambda r: r.id),
        outcomes=outcomes,
        failing_by_severity=failing,
        gaps=gaps,
    )
