"""The organization view: a findings document that holds several accounts (version 2, written by
``ams-iam-audit merge``) seen account by account.

Such a document keeps one list of findings, each carrying its ``account_id``, plus two sections
built here (:func:`organization_section`) and read back by the reports (:func:`organization_view`):

* ``organization``: the accounts x severity summary, one row per account with its failing findings
  (failures and errors) per severity and its outcome counts, **worst accounts first**;
* ``accounts``: one section per account with what is that account's own (its run metadata, coverage,
  compliance view, waivers, baseline comparison and what ``--fix`` did).

The HTML report and the Markdown summary lay the view out (``reports/organization.*.j2``); elsewhere
they name every resource with its account (``123456789012:role/x``, :func:`in_account`), since the
same role name exists in many accounts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..findings import OUTCOMES, SEVERITIES, subjects_counted

__all__ = [
    "AccountRow",
    "AccountSection",
    "OrganizationView",
    "account_risk",
    "in_account",
    "is_organization",
    "organization_section",
    "organization_view",
]


def is_organization(document: Mapping[str, Any]) -> bool:
    """Whether the document holds several accounts' findings (its ``accounts`` sections)."""
    return isinstance(document.get("accounts"), list)


def in_account(item: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``item`` with ``item[key]`` prefixed by its account (``123456789012:role/x``) when it names one:
    how an organization's reports tell the same resource name in two accounts apart."""
    account = item.get("account_id")
    if not account:
        return item
    return {**item, key: f"{account}:{item.get(key)}"}


def account_risk(row: Mapping[str, Any]) -> tuple[Any, ...]:
    """Sort key of an account row, worst first: more critical failing findings, then high, … info;
    then more errors; an incomplete run before a complete one; then the account id."""
    by_severity = row.get("by_severity") or {}
    outcomes = row.get("outcomes") or {}
    return (
        *(-int(by_severity.get(s, 0)) for s in SEVERITIES),
        -int(outcomes.get("error", 0)),
        bool(row.get("complete", True)),
        str(row["account_id"]),
    )


def organization_section(
    findings: Iterable[Mapping[str, Any]],
    runs: Mapping[str, Mapping[str, Any]],
    left_out: Sequence[tuple[str, str, str]] = (),
) -> dict[str, Any]:
    """The ``organization`` section of a version-2 findings document: per account (``runs``: account
    id -> that account's run metadata) its failing findings (``fail`` and ``error``) by severity and
    its outcome counts, worst first (:func:`account_risk`), and the totals by severity. ``left_out``:
    the organization's accounts a run of ``--aws-org`` did not audit (id, name, state: suspended or
    closed), listed so that the report names every account of the organization."""
    by_severity: dict[str, Counter[str]] = {a: Counter() for a in runs}
    outcomes: dict[str, Counter[str]] = {a: Counter() for a in runs}
    for f in findings:
        account = str(f["account_id"])
        outcomes.setdefault(account, Counter())[f["outcome"]] += subjects_counted(f["resource"], f.get("evidence"))
        if f["outcome"] in ("fail", "error"):
            by_severity.setdefault(account, Counter())[f["severity"]] += 1
    rows: list[dict[str, Any]] = [
        {
            "account_id": account,
            "by_severity": {s: by_severity[account][s] for s in SEVERITIES},
            "failing": sum(by_severity[account].values()),
            "outcomes": {o: outcomes[account][o] for o in OUTCOMES},
            "complete": bool((runs.get(account) or {}).get("complete", False)),
        }
        for account in sorted(set(by_severity) | set(outcomes))
    ]
    rows.sort(key=account_risk)
    section: dict[str, Any] = {
        "accounts": rows,
        "by_severity": {s: sum(int(r["by_severity"][s]) for r in rows) for s in SEVERITIES},
    }
    if left_out:
        section["left_out"] = [{"account_id": a, "name": n, "state": s} for a, n, s in sorted(left_out)]
    return section


@dataclass(frozen=True)
class AccountRow:
    """One account in the summary table."""

    account_id: str
    by_severity: Mapping[str, int]
    failing: int
    outcomes: Mapping[str, int]
    complete: bool

    @property
    def verdict(self) -> str:
        """In words, as the reports print it beside the counts."""
        if not self.complete:
            return "incomplete run"
        if self.outcomes.get("fail"):
            return "not compliant"
        if self.outcomes.get("error"):
            return "not assessed in full"
        return "compliant"


@dataclass(frozen=True)
class AccountSection:
    """What is one account's own in an organization document: ``run`` (its run metadata as its own
    findings.json had it), coverage gaps, and the optional baseline and fix summaries."""

    account_id: str
    source_file: str | None
    run: Mapping[str, Any]
    gaps: tuple[Mapping[str, Any], ...]
    baseline: Mapping[str, Any] | None
    fix: Mapping[str, Any] | None


@dataclass(frozen=True)
class OrganizationView:
    """The summary rows (worst first), the per-account sections (by account id) and the totals."""

    rows: tuple[AccountRow, ...]
    accounts: tuple[AccountSection, ...]
    by_severity: Mapping[str, int]
    #: the organization's accounts not audited (``--aws-org``: suspended or closed), each a mapping of
    #: ``account_id``, ``name``, ``state``
    left_out: tuple[Mapping[str, Any], ...] = ()

    @property
    def severities(self) -> Sequence[str]:
        return SEVERITIES


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def organization_view(document: Mapping[str, Any]) -> OrganizationView | None:
    """The organization view of a version-2 document (``None`` for one account's document). The
    summary is the document's ``organization`` section, or built the same way when it lacks one."""
    if not is_organization(document):
        return None
    sections = [a for a in document["accounts"] if isinstance(a, Mapping)]
    summary = _mapping(document.get("organization")) or organization_section(
        document.get("findings") or [], {str(a["account_id"]): a.get("run") or {} for a in sections}
    )
    rows = tuple(
        AccountRow(
            account_id=str(r["account_id"]),
            by_severity={s: int((r.get("by_severity") or {}).get(s, 0)) for s in SEVERITIES},
            failing=int(r.get("failing", 0)),
            outcomes={o: int((r.get("outcomes") or {}).get(o, 0)) for o in OUTCOMES},
            complete=bool(r.get("complete", False)),
        )
        for r in summary.get("accounts") or ()
    )
    accounts = tuple(
        AccountSection(
            account_id=str(a["account_id"]),
            source_file=a.get("source_file"),
            run=a.get("run") or {},
            gaps=tuple(c for c in a.get("coverage") or () if not c.get("readable", True)),
            baseline=_mapping(a.get("baseline")),
            fix=_mapping(a.get("fix")),
        )
        for a in sorted(sections, key=lambda a: str(a["account_id"]))
    )
    totals = _mapping(summary.get("by_severity")) or {}
    left_out = tuple(a for a in summary.get("left_out") or () if isinstance(a, Mapping))
    return OrganizationView(
        rows=rows,
        accounts=accounts,
        by_severity={s: int(totals.get(s, 0)) for s in SEVERITIES},
        left_out=left_out,
    )
