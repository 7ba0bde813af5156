"""The terminal summary: what a person at the console (or a CI log) reads after the run.

:func:`summary_lines` turns what the run ended with into :class:`TerminalLine` values and
:func:`write_summary` hands them to pytest's terminal reporter. The plugin gathers the inputs (the
run, the fix phase, the waivers and the baseline), so this module renders only: it reads no AWS and
imports neither the run nor the remediation. Every line passes :func:`jsonio.terminal_safe` (secrets
masked, control characters made visible).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..findings import Finding, Outcome, subjects_counted
from ..findings.baseline import Baseline
from ..findings.waivers import Waiver, WaiverUsage
from ..inventory.model import Section
from ..jsonio import terminal_safe
from .view import SEVERITIES

__all__ = ["TerminalLine", "closing_line", "summary_lines", "write_summary"]


RED, YELLOW = "red", "yellow"


@dataclass(frozen=True)
class TerminalLine:
    """One line of the summary; ``sep`` set: a separator line (``=``, ``-``) titled ``text``."""

    text: str
    color: str | None = None  # "red", "yellow"
    sep: str | None = None


def summary_lines(
    *,
    account_id: str,
    source: str,
    findings: Sequence[Finding],
    rules: Mapping[str, Mapping[str, Any]],
    incomplete: str | None,
    unreadable: Iterable[Section],
    fix: Sequence[TerminalLine] = (),
    waivers: Sequence[Waiver] = (),
    waiver_usage: Sequence[WaiverUsage] = (),
    today: date | None = None,
    baseline: Baseline | None = None,
    output_error: str | None = None,
    written: Sequence[Path] = (),
    timings: Mapping[str, float] | None = None,
    demo: bool = False,
    snapshot_saved: Path | None = None,
) -> list[TerminalLine]:
    """The summary, top to bottom: the account, one row per rule with its outcome counts, failures
    by severity, what made the run incomplete or left parts unread, the fix phase (lines made by
    the fix phase itself), waivers, the baseline, and the files written."""
    lines = [TerminalLine("ams-iam-audit", sep="="), TerminalLine(f"account {account_id} ({source})")]
    if demo:
        lines.append(TerminalLine("the demo account is created afresh, from the same footprint, on every run"))
    by_rule: dict[str, Counter[str]] = {}
    for f in findings:
        by_rule.setdefault(f.rule_id, Counter())[f.outcome.value] += subjects_counted(f.resource, f.evidence)
    outcomes = [o.value for o in Outcome if any(c[o.value] for c in by_rule.values())]
    lines.append(TerminalLine(f"{'rule':<16}{'severity':<10}" + "".join(f"{o:>16}" for o in outcomes)))
    for rule_id in sorted(by_rule):
        severity = rules.get(rule_id, {}).get("severity", "")
        counts = by_rule[rule_id]
        lines.append(TerminalLine(f"{rule_id:<16}{severity:<10}" + "".join(f"{counts[o]:>16}" for o in outcomes)))
    failing = Counter(f.severity for f in findings if f.outcome is Outcome.FAIL)
    if failing:
        counts_text = ", ".join(f"{s} {failing[s]}" for s in SEVERITIES if failing[s])
        lines.append(TerminalLine(f"failing by severity: {counts_text}"))
    if incomplete is not None:
        lines.append(TerminalLine(f"INCOMPLETE: {incomplete}; read nothing absent as compliant", "red"))
    lines.extend(TerminalLine(f"coverage gap: {section.describe()}", YELLOW) for section in unreadable)
    lines.extend(fix)
    lines.extend(_waiver_lines(findings, waivers, waiver_usage, today))
    if baseline is not None:
        b = baseline.summary(list(findings))
        lines.append(
            TerminalLine(
                f"against the baseline: {len(b['new'])} new, {len(b['unchanged'])} unchanged, "
                f"{len(b['resolved'])} resolved"
            )
        )
    if output_error is not None:
        lines.append(TerminalLine(f"ERROR: {output_error}", RED))
    if snapshot_saved is not None:
        lines.append(TerminalLine(f"snapshot saved: {snapshot_saved} (audit it offline with --snapshot)"))
    lines.extend(TerminalLine(f"written: {path}") for path in written)
    if timings:
        lines.append(TerminalLine("timings: " + ", ".join(f"{phase} {s:.2f} s" for phase, s in timings.items())))
    return lines


def closing_line(findings: Sequence[Finding], written: Sequence[Path]) -> TerminalLine | None:
    """The run's very last line (after pytest's counts): where the report is and how many findings
    fail; ``None`` when no report was written."""
    html = next((path for path in written if path.suffix == ".html"), None)
    if html is None:
        return None
    failed = sum(1 for f in findings if f.outcome is Outcome.FAIL)
    return TerminalLine(f"ams-iam-audit report: {html} ({failed} failing finding(s))", RED if failed else None)


def _waiver_lines(
    findings: Sequence[Finding], waivers: Sequence[Waiver], usage: Sequence[WaiverUsage], today: date | None
) -> list[TerminalLine]:
    lines = []
    waived = sum(1 for f in findings if f.outcome is Outcome.WAIVED)
    expired = [w for w in waivers if today is not None and not w.active_on(today)]
    if waived or expired:
        lines.append(TerminalLine(f"{waived} finding(s) waived; {len(expired)} waiver(s) expired"))
    for w in expired:
        lines.append(TerminalLine(f"expired waiver: {w.rule_id} {w.resource} (expired {w.expires}, {w.where})", YELLOW))
    for one in usage:
        w = one.waiver
        which = f"{w.rule_id} {w.resource} ({w.where})"
        if one.unused:
            lines.append(TerminalLine(f"unused waiver: {which} matches no failure", YELLOW))
        if one.matches_everything:
            lines.append(TerminalLine(f"broad waiver: {which} waives every resource", YELLOW))
    return lines


def write_summary(tr: Any, lines: Iterable[TerminalLine]) -> None:
    """Write ``lines`` through pytest's terminal reporter ``tr``."""
    for line in lines:
        if line.sep is not None:
            tr.write_sep(line.sep, terminal_safe(line.text))
        else:
            tr.write_line(terminal_safe(line.text), **({line.color: True} if line.color else {}))
