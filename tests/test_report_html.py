"""The HTML report's findings rows (round 4 of issue 12): made in Python (``render.FindingRows``)
rather than by the template's loop, they must be the bytes that loop made, for findings of every
kind, whatever their fields hold (markup, quotes, non-ASCII, fields a findings file left out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ams_iam_audit.findings import Finding, Outcome
from ams_iam_audit.report import write_findings
from ams_iam_audit.report.render import FindingRows, _environment, render_html
from ams_iam_audit.report.view import EMPTY_FACTS, OUTCOMES, SEVERITIES, build_view

#: The loop of ``reports/compliance.html.j2`` over a rule's findings as it was before the rows were
#: made in Python (48dded7), verbatim: the reference the rows are compared against.
REFERENCE_LOOP = (Path(__file__).parent / "data" / "findings_loop-48dded7.html.j2").read_text(encoding="utf-8")

_S3 = [f"s3:{name}" for name in ("GetObject", "PutObject", "DeleteObject", "ListBucket", "GetBucketPolicy",
                                  "PutBucketPolicy", "GetObjectAcl", "PutObjectAcl", "CreateBucket")]  # fmt: skip
_HOSTILE = "<script>alert('x')</script> & \"quoted\" é \u2028"


def _evidence(i: int, resource: str) -> dict[str, Any]:
    """Evidence of every shape the row shows, by ``i``: statements (marked, with a sid), a
    suggested replacement, a fix done and one planned, action lists, timestamps, empty items, an
    item that is the resource itself, markup in names and values."""
    statement = {"Effect": "Allow", "Action": ["s3:*", _HOSTILE], "Resource": f"arn:aws:s3:::b{i % 2}/*"}
    evidence: dict[str, Any] = {
        "statements": [{"statement_index": i % 2, "sid": "S<1>" if i % 3 else None, "statement": statement,
                        "actions": ["s3:GetObject"]}],
        "role": resource,  # the resource itself: left out of the facts
        f"name {_HOSTILE}": f"value {_HOSTILE}",
        "Policy": "the same for consecutive findings" if i % 4 else f"p-{i}",
        "policy": "the same for consecutive findings, in another case",
        "empty": [] if i % 2 else None,
        "created": "2026-01-02T03:04:05Z",
        "consumers": [{"kind": "lambda", "name": "f", "arn": "arn:aws:lambda:::f", "region": "us-east-1"}],
    }  # fmt: skip
    if i % 5 == 0:
        evidence["actions"] = _S3
        evidence["action_count"] = 120
    if i % 4 == 0:
        evidence["suggested_document"] = {"Statement": [{**statement, "Action": ["s3:GetObject"]}] * 2}
    if i % 7 == 0:
        evidence["before"], evidence["after"] = {"Statement": [statement]}, {"Statement": []}
        evidence["fix"] = {"reason": f"reason {_HOSTILE}", "changes": [f"iam:DetachRolePolicy {_HOSTILE}"]}
    elif i % 7 == 1:
        evidence["planned_fix"] = {"not_fixable": f"because {_HOSTILE}", "calls": ["iam:PutRolePolicy <a>"]}
    elif i % 7 == 2:
        evidence["planned_fix"] = {"calls": []}
    return evidence


def _findings(count: int) -> list[Finding]:
    outcomes = [Outcome.FAIL, Outcome.ERROR, Outcome.WAIVED, Outcome.FIXED, Outcome.PASS]
    out = []
    for i in range(count):
        resource = f"role/r-{i % 9}" + (f" {_HOSTILE}" if i % 6 == 0 else "")
        waiver = None
        if i % 5 == 2:
            waiver = {"status": "active", "justification": _HOSTILE, "owner": "<o>", "expires": "2027-01-01"}
        elif i % 5 == 3:
            waiver = {"status": "expired"}  # the other fields absent: written as nothing
        out.append(
            Finding(
                rule_id=f"AMS-ROW-{i % 3}",
                title="rule",
                severity=SEVERITIES[i % len(SEVERITIES)],
                area="iam",
                outcome=outcomes[i % len(outcomes)],
                resource=resource,
                resource_arn=None,
                message=f"message {i} {_HOSTILE}",
                remediation="",
                evidence=_evidence(i, resource),
                waiver=waiver,
                baseline=[None, "new", "unchanged"][i % 3],
            )
        )
    return out


def _document(tmp_path: Path, drop: tuple[str, ...] = ("message", "baseline", "waiver")) -> dict[str, Any]:
    rules = [{"id": f"AMS-ROW-{n}", "title": "rule", "severity": "high", "area": "iam"} for n in range(3)]
    document = write_findings(tmp_path / "findings.json", _findings(120), rules, {"collected_at": None}, [])
    for n, finding in enumerate(document["findings"]):  # a findings file made elsewhere (`report`)
        if n % 8 == 1:
            for name in drop:
                del finding[name]
    return document


def test_findings_rows_are_the_bytes_the_templates_loop_made(tmp_path: Path) -> None:
    document = _document(tmp_path)
    reference = _environment(True).from_string(REFERENCE_LOOP)
    rows = FindingRows()
    view = build_view(document)
    assert len(view.attention) == 3
    made = []
    for rule in view.attention:
        expected = reference.render(rule=rule, outcomes=OUTCOMES, severities=SEVERITIES, empty_values=EMPTY_FACTS)
        made.append("".join("\n" + rows(rule.id, f) for f in rule.findings))
        assert made[-1] == expected, rule.id
    html = "".join(made)
    # every branch of the loop was taken (a comparison of rows without them would prove nothing)
    for part in ("Waiver (active)", "Waiver (expired):</strong> , owner , expires </p>", "what --fix did",
                 "what --fix would do", "Not fixable automatically", "repeat-note", '<div class="repeat">',
                 "and the suggested replacement", '<pre class="diff">', '<p class="muted printonly">',
                 'class="action-list"', '<dt class="empty">', '<dt class="repeat">', '<span class="muted">(new)',
                 "<mark>", "&lt;script&gt;", 'data-text="role/r-1  ams-row-1"'):  # fmt: skip
        assert part in html, part
    assert "<script>" not in html


def test_the_report_shows_each_finding_once_in_its_rules_table(tmp_path: Path) -> None:
    document = _document(tmp_path, drop=("baseline", "waiver"))  # the summary needs every message
    html = render_html(document)
    shown = sum(1 for f in document["findings"] if f["outcome"] not in ("pass", "not-applicable"))
    assert html.count('<tr class="finding"') == shown
    assert html.count('\n<tr class="finding"') == shown
