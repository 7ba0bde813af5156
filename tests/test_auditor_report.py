"""The auditor's parts of the report (issue 13): the executive summary in words, the compliance view
per framework (findings.json ``compliance``, HTML, Markdown), readable evidence (action lists
summarised, dates, the suggested replacement as a diff), the order by risk, and one severity per
finding in every output (findings.json, JUnit, SARIF, Markdown, HTML). Printing is in
``test_browser.py``."""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import pytest
from conftest import ACCOUNT, AuditResult, demo_audit
from demo_table import DEMO_CRITICAL, DEMO_FAILING, DEMO_FAILURES
from test_reports import _document, _finding

from ams_iam_audit.findings import compliance_section, control_catalogue, subjects_counted
from ams_iam_audit.findings.schema import validate_findings
from ams_iam_audit.policy.actions import action_info, service_actions
from ams_iam_audit.report.render import page_css, render_html, render_markdown
from ams_iam_audit.report.view import build_view, readable_date, summarise_actions


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    """The demo account audited once, with JUnit XML beside the other outputs."""
    workdir = tmp_path_factory.mktemp("auditor-report")
    return demo_audit(workdir, "-q", "--junitxml", str(workdir / "report" / "junit.xml"))


# --- compliance view ----------------------------------------------------------------------------


def _rule(rule_id: str, cis: list[str] = [], nist: list[str] = [], soc2: list[str] = []) -> dict[str, Any]:  # noqa: B006
    return {"id": rule_id, "controls": {"cis_aws_foundations": cis, "nist_800_53": nist, "soc2": soc2}}


def _controls(section: list[dict[str, Any]], framework: str) -> dict[str, dict[str, Any]]:
    return {c["id"]: c for s in section if s["framework"] == framework for c in s["controls"]}


def test_a_control_fails_errs_passes_or_is_not_assessed_from_its_rules() -> None:
    rules = [
        _rule("AMS-A-001", cis=["1.16"], nist=["AC-6"]),
        _rule("AMS-B-001", cis=["1.15"], nist=["AC-6"]),
        _rule("AMS-C-001", cis=["1.12"]),
        _rule("AMS-D-001", cis=["1.14"]),  # only not applicable: judged nothing
    ]
    findings = [
        _finding("AMS-A-001", "policy/a", "fail"),
        _finding("AMS-A-001", "policy/b", "fail"),
        _finding("AMS-A-001", "policy/c", "pass"),
        _finding("AMS-B-001", "user/x", "pass"),
        _finding("AMS-B-001", "user/y", "waived"),
        _finding("AMS-C-001", "user/z", "error"),
        _finding("AMS-C-001", "user/w", "pass"),
        _finding("AMS-D-001", "-", "not-applicable"),
    ]
    cis = _controls(compliance_section(rules, findings), "cis_aws_foundations")
    assert (cis["1.16"]["status"], cis["1.16"]["failing_resources"], cis["1.16"]["rules"]) == ("fail", 2, ["AMS-A-001"])
    assert (cis["1.15"]["status"], cis["1.15"]["waived"]) == ("pass", 1)  # a waived failure passes, and shows
    assert (cis["1.12"]["status"], cis["1.12"]["error_resources"]) == ("error", 1)
    assert cis["1.14"]["status"] == "not assessed"
    assert (cis["1.4"]["status"], cis["1.4"]["rules"]) == ("not assessed", [])  # no rule maps it: listed anyway
    nist = _controls(compliance_section(rules, findings), "nist_800_53")
    # two rules on one control: a failure under either fails it; resources counted once each
    assert (nist["AC-6"]["status"], nist["AC-6"]["rules"], nist["AC-6"]["failing_resources"]) == (
        "fail",
        ["AMS-A-001", "AMS-B-001"],
        2,
    )


def test_a_control_missing_from_the_catalogue_is_still_reported() -> None:
    section = compliance_section([_rule("AMS-A-001", soc2=["CC9.9"])], [_finding("AMS-A-001", "x", "fail")])
    soc2 = _controls(section, "soc2")
    assert soc2["CC9.9"] == {
        "id": "CC9.9",
        "title": "not in the control catalogue",
        "status": "fail",
        "rules": ["AMS-A-001"],
        "failing_resources": 1,
        "error_resources": 0,
        "waived": 0,
    }
    assert list(soc2)[-1] == "CC9.9"  # after the catalogue's own, which keep their order


def test_the_control_catalogue_names_its_sources_and_the_whole_cis_iam_section() -> None:
    catalogue = {f["key"]: f for f in control_catalogue()}
    assert set(catalogue) == {"cis_aws_foundations", "nist_800_53", "soc2"}
    for framework in catalogue.values():
        assert framework["source"]
        assert framework["name"]
        ids = [c["id"] for c in framework["controls"]]
        assert len(ids) == len(set(ids))
    # the whole IAM section, and the S3 and logging recommendations rules assess
    assert [c["id"] for c in catalogue["cis_aws_foundations"]["controls"]] == [
        *(f"1.{i}" for i in range(1, 23)),
        "2.1.4",
        "3.1",
    ]


def test_every_control_the_rules_map_is_in_the_catalogue_and_the_demo_statuses_follow(demo: AuditResult) -> None:
    document = demo.document
    assert document is not None
    validate_findings(document)
    section = document["compliance"]
    assert section == compliance_section(document["rules"], document["findings"])  # built in one place
    for framework in section:
        for control in framework["controls"]:
            assert control["title"] != "not in the control catalogue", (framework["framework"], control["id"])
    failing_rules = {f["rule_id"] for f in demo.findings if f["outcome"] == "fail"}
    # a rule that had nothing to judge (AMS-CRED-003: no console user in the demo) assesses nothing
    judging_rules = {f["rule_id"] for f in demo.findings if f["outcome"] != "not-applicable"}
    for framework in section:
        mapped = {str(c): r["id"] for r in document["rules"] for c in r["controls"].get(framework["framework"]) or ()}
        for control in framework["controls"]:
            rules = set(control["rules"])
            expected = "fail" if rules & failing_rules else "pass" if rules & judging_rules else "not assessed"
            assert control["status"] == expected, (framework["framework"], control["id"])
            assert (control["id"] in mapped) == bool(control["rules"])
    cis = _controls(section, "cis_aws_foundations")
    assert cis["1.16"]["status"] == "fail"  # AMS-PRIV-001's administrator policies
    assert cis["1.4"]["status"] == "pass"  # AMS-CRED-001: the root user has no access key
    assert cis["1.10"]["status"] == "not assessed"  # AMS-CRED-003 had no console user to judge
    # the same tables in the HTML and the Markdown
    page = (demo.report_dir / "report.html").read_text()
    for framework in section:
        for control in framework["controls"]:
            row = (
                f'data-framework="{framework["framework"]}" data-control="{html.escape(control["id"])}" '
                f'data-status="{control["status"]}"'
            )
            assert row in page, row
    markdown = (demo.report_dir / "summary.md").read_text()
    assert "| 1\\.16 | fail | AMS-EXEC-002, AMS-PRIV-001, AMS-PRIV-004 | 6 |" in markdown
    assert "| 1\\.4 | pass | AMS-CRED-001 | 0 |" in markdown
    assert "| 1\\.21 | not assessed |  | 0 |" in markdown


# --- executive summary --------------------------------------------------------------------------


def test_the_executive_summary_says_the_verdict_what_to_fix_first_and_the_limits(demo: AuditResult) -> None:
    assert demo.document is not None
    summary = build_view(demo.document).summary
    assert summary.scope.startswith(f"This audit judged AWS account {ACCOUNT} (the embedded demo account) in us-east-1")
    # each subject a rule's examined case stands for is one check (the case passes for all of them)
    judged = sum(
        subjects_counted(f["resource"], f["evidence"]) for f in demo.findings if f["outcome"] != "not-applicable"
    )
    assert f": {judged} checks of a rule on a resource" in summary.scope
    criticals = sum(1 for f in demo.findings if f["outcome"] == "fail" and f["severity"] == "critical")
    assert criticals == len(DEMO_CRITICAL)
    assert summary.verdict == f"Not compliant: {criticals} critical findings ({DEMO_FAILING} failing findings in all)."
    assert not summary.compliant
    assert len(summary.first_fixes) == 3
    critical = [f for f in demo.findings if f["outcome"] == "fail" and f["severity"] == "critical"]
    # one sentence per rule, the riskiest first: the demo has four rules with critical failures
    assert len({rule for rule, _ in DEMO_CRITICAL}) >= 3
    for sentence in summary.first_fixes:
        assert sentence.startswith("Critical: ")
        assert any(f["resource"] in sentence and f["rule_id"] in sentence for f in critical), sentence
    assert any("controls of the frameworks' scope are not assessed" in s for s in summary.limitations)
    assert summary.trend is None
    page = (demo.report_dir / "report.html").read_text()
    assert html.escape(summary.verdict) in page
    for sentence in summary.first_fixes:
        assert html.escape(sentence, quote=False) in page


def test_the_summary_states_coverage_gaps_an_incomplete_run_and_the_baseline_trend() -> None:
    document = _document([_finding("AMS-S3-001", "policy/a", "error"), _finding("AMS-S3-001", "policy/b", "pass")])
    document["coverage"] = [
        {"section": "s3", "readable": False, "error": "AccessDenied", "missing_permission": "s3:GetBucketPolicy"}
    ]
    document["run"].update(complete=False, incomplete_reason="stopped after the first failure (-x)")
    document["baseline"] = {
        "path": "old.json",
        "new": [],
        "unchanged": [],
        "resolved": [{"rule_id": "AMS-S3-001", "resource": "policy/c"}],
    }
    summary = build_view(document).summary
    assert summary.verdict == "Not assessed in full: 1 check could not be evaluated; nothing else failed."
    assert not summary.compliant
    assert summary.first_fixes == ()
    assert any(
        "The s3 section could not be read (AccessDenied; needs s3:GetBucketPolicy)" in s for s in summary.limitations
    )
    assert any(
        s.startswith("The run did not complete (stopped after the first failure (-x))") for s in summary.limitations
    )
    assert summary.trend == "Against the baseline old.json: 0 new, 0 unchanged and 1 resolved findings."
    assert "Limitation: The s3 section could not be read" in render_markdown(document)
    clean = _document([_finding("AMS-S3-001", "policy/a", "pass")])
    assert build_view(clean).summary.verdict == "Compliant: no rule failed."


# --- order by risk ------------------------------------------------------------------------------


def test_rules_are_worst_first_and_rules_that_only_pass_share_one_table(demo: AuditResult) -> None:
    assert demo.document is not None
    view = build_view(demo.document)
    ranks = [r.risk[:2] for r in view.attention]
    assert ranks == sorted(ranks)
    assert [r.id for r in view.attention][:2] == ["AMS-PRIV-001", "AMS-PRIV-004"]
    assert {r.id for r in view.passed_rules} >= {"AMS-EXEC-002", "AMS-SHARED-003"}
    assert not {r.id for r in view.passed_rules} & set(DEMO_FAILURES)
    assert all(not r.findings for r in view.passed_rules)
    page = (demo.report_dir / "report.html").read_text()
    sections = re.findall(r'<section class="rule" id="rule-([A-Z0-9-]+)"', page)
    assert sections == [r.id for r in view.attention]
    passed = page[page.index('<section id="passed-controls">') :]
    assert 'id="rule-AMS-EXEC-002"' in passed


def test_within_a_rule_failures_come_before_errors_before_waivers() -> None:
    findings = [
        _finding("AMS-S3-001", "policy/w", "waived"),
        _finding("AMS-S3-001", "policy/e", "error"),
        _finding("AMS-S3-001", "policy/f", "fail"),
        _finding("AMS-S3-002", "policy/e2", "error"),
    ]
    findings[2]["severity"] = "medium"
    view = build_view(_document(findings))
    (s3_001, s3_002) = sorted(view.attention, key=lambda r: r.id)
    assert [f.data["outcome"] for f in s3_001.findings] == ["fail", "error", "waived"]
    # at the same worst severity (the error on policy/e is high), a rule with a failure comes first
    assert [r.id for r in view.attention] == ["AMS-S3-001", "AMS-S3-002"]
    assert s3_001.risk < s3_002.risk


# --- readable evidence --------------------------------------------------------------------------


def test_action_lists_are_summarised_from_policy_sentry_access_levels() -> None:
    s3 = sorted(service_actions("s3"))
    assert summarise_actions(s3) == f"all {len(s3)} s3 actions"
    assert summarise_actions(s3[:40], total=len(s3)) == f"all {len(s3)} s3 actions"  # evidence lists the first 40
    some = ["s3:GetObject", "s3:PutObject", "s3:PutBucketPolicy", "s3:ListBucket"]
    levels = [action_info(a).access_level for a in some]  # type: ignore[union-attr]
    text = summarise_actions(some)
    assert text.startswith("4 s3 actions (")
    for level in set(levels):
        assert f"{levels.count(level)} {level.lower()}" in text
    assert summarise_actions(["s3:NoSuchAction"]) == "1 s3 actions (1 unknown)"


def test_evidence_shows_summaries_dates_and_the_suggested_replacement_as_a_diff(demo: AuditResult) -> None:
    assert demo.document is not None
    view = build_view(demo.document)
    s3 = next(r for r in view.rules if r.id == "AMS-S3-001")
    wide = next(f for f in s3.findings if f.data["resource"] == "policy/lambda_policy_a1b2c3d4e5")
    assert wide.evidence is not None
    (listing,) = wide.evidence.actions
    assert listing.summary == f"all {len(service_actions('s3'))} s3 actions"
    assert listing.actions == tuple(wide.data["evidence"]["statements"][0]["actions"])
    assert wide.evidence.diff_title == "the suggested replacement"
    diff = str(wide.evidence.diff)
    assert "<del>-  &#34;Action&#34;: &#34;s3:*&#34;,</del>" in diff
    assert "<ins>+" in diff
    assert "aimodelshare" in diff
    page = (demo.report_dir / "report.html").read_text()
    assert '<pre class="diff">' in page
    assert f"all {len(service_actions('s3'))} s3 actions (full list below)" in page
    assert '<details class="full actions">' in page
    users = next(r for r in view.rules if r.id == "AMS-USER-001")
    facts = dict(users.findings[0].evidence.facts)  # type: ignore[union-attr]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \(on the day of the audit\)", facts["created"]), facts["created"]
    keys = facts["access_keys"]
    assert re.fullmatch(r"AKIA\*+[A-Z0-9]{4} Active, 0 days old, never used", keys), keys
    roles = next(r for r in view.rules if r.id == "AMS-ROLE-001")
    lambda_role = next(f for f in roles.findings if f.data["resource"] == "role/lambda_role_a1b2c3d4e5")
    assert dict(lambda_role.evidence.facts)["consumers"] == "lambda modfunctiona1b2c3d4e5 (us-east-1)"  # type: ignore[union-attr]


def test_readable_dates_count_days_before_the_audit() -> None:
    audited = datetime(2026, 12, 2, 12, tzinfo=UTC)
    assert readable_date("2026-06-02T09:00:00+00:00", audited) == "2026-06-02 (183 days before the audit)"
    assert readable_date("2026-12-02T01:00:00Z", audited) == "2026-12-02 (on the day of the audit)"
    assert readable_date("not a date", audited) == "not a date"


def test_the_print_header_cannot_be_broken_out_of() -> None:
    document = _document([_finding("AMS-S3-001", "policy/a", "pass")])
    document["run"]["account_id"] = '1"} body { display: none } </style><script>'
    css = page_css(document)
    assert "</style" not in css
    assert '"}' not in css.replace('" counter', "")
    assert css.count("{") == css.count("}")
    assert "</style><script>" not in render_html(document)


# --- one severity everywhere --------------------------------------------------------------------


def test_every_output_gives_each_finding_the_same_severity(demo: AuditResult) -> None:
    """The model: a finding's severity is the rule's, or lower where the rule grades this resource
    by breadth; findings.json, JUnit, SARIF, the Markdown and the HTML all say that one."""
    report = demo.report_dir
    by_node = {f["nodeid"]: f for f in demo.findings}
    graded = [f for f in demo.findings if f["outcome"] == "fail"]
    rules = {r["id"]: r for r in demo.document["rules"]}  # type: ignore[index]
    assert any(f["severity"] != rules[f["rule_id"]]["severity"] for f in graded)  # the case that disagreed

    junit = ET.parse(report / "junit.xml").getroot()
    seen = 0
    for case in junit.iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        if "rule_id" not in props:
            continue
        match = [f for f in demo.findings if f["rule_id"] == props["rule_id"] and f["resource"] == props["resource"]]
        if len(match) != 1:
            continue
        assert props["severity"] == match[0]["severity"], (props, match[0]["outcome"])
        seen += 1
    assert seen >= len(graded)

    sarif = json.loads((report / "results.sarif").read_text())
    results = {
        (r["ruleId"], r["properties"]["resource"]): r["properties"]["severity"] for r in sarif["runs"][0]["results"]
    }
    for f in graded:
        assert results[(f["rule_id"], f["resource"])] == f["severity"]

    markdown = (report / "summary.md").read_text()
    page = (report / "report.html").read_text()
    for f in graded:
        resource = f["resource"].replace("|", "\\|")
        assert f"| {f['rule_id']} | {f['severity']} | `{resource}` |" in markdown, f
        row = re.search(
            r'<tr class="finding" data-rule="'
            + re.escape(f["rule_id"])
            + r'" data-severity="([a-z]+)"[^>]*>\s*<td><code>'
            + re.escape(html.escape(f["resource"]))
            + "</code>",
            page,
        )
        assert row is not None, f
        assert row.group(1) == f["severity"], f
    assert by_node


def test_what_the_fix_changed_is_a_diff_of_the_two_documents() -> None:
    before = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    after = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
    finding = _finding("AMS-S3-001", "policy/a", "fixed", evidence={"before": before, "after": after})
    (rule,) = build_view(_document([finding])).attention
    evidence = rule.findings[0].evidence
    assert evidence is not None
    assert evidence.diff_title == "what the fix changed"
    assert str(evidence.diff).splitlines() == [
        "--- before, +++ after",
        "@@ -3,3 +3,3 @@",
        "     {",
        "<del>-      &#34;Action&#34;: &#34;s3:*&#34;,</del>",
        "<ins>+      &#34;Action&#34;: [&#34;s3:GetObject&#34;],</ins>",
        "       &#34;Effect&#34;: &#34;Allow&#34;,",
    ]
    page = render_html(_document([finding]))
    assert "what the fix changed" in page
    assert '<pre class="diff">' in page
