"""The plugin's own hooks (``ams_iam_audit.hooks``), implemented the way a team would: in a
``conftest.py`` next to its rules, with no file of the package edited."""

from __future__ import annotations

import json
import textwrap

import pytest
from conftest import Account, audit_at

LEGACY_USER = "AI_MODELSHARE_2024_01_01_00_00_00"


def test_a_team_writer_gets_the_findings_document_and_adds_an_output(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName=LEGACY_USER)
    pytester.makeconftest(
        textwrap.dedent("""
        def pytest_ams_iam_audit_write_reports(document, out_dir, config):
            path = out_dir / "failures.csv"
            rows = [f"{f['rule_id']},{f['resource']}" for f in document["findings"] if f["outcome"] == "fail"]
            path.write_text("\\n".join(rows) + "\\n")
            return [path]
    """)
    )
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    csv = result.report_dir / "failures.csv"
    assert csv.read_text() == f"AMS-USER-001,user/{LEGACY_USER}\n"
    # the built-in outputs are written as before, and every written path is listed in the summary
    for name in ("report.html", "summary.md", "results.sarif", "failures.csv"):
        assert (result.report_dir / name).exists()
        assert f"written: {result.report_dir / name}" in result.stdout


def test_a_failing_team_writer_is_a_usage_error_and_findings_stay_written(
    pytester: pytest.Pytester, aws: Account
) -> None:
    pytester.makeconftest(
        textwrap.dedent("""
        def pytest_ams_iam_audit_write_reports(document, out_dir, config):
            raise RuntimeError("ticket system unreachable")
    """)
    )
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "a report writer (pytest_ams_iam_audit_write_reports) failed: RuntimeError: ticket system unreachable" in (
        result.stdout
    )
    assert result.document is not None  # findings.json was written before any writer ran


def test_a_finding_hook_adds_evidence_on_every_output_and_cannot_change_the_verdict(
    pytester: pytest.Pytester, aws: Account
) -> None:
    aws.iam.create_user(UserName=LEGACY_USER)
    aws.iam.create_user(UserName="alice")
    pytester.makeconftest(
        textwrap.dedent("""
        seen = []

        def pytest_ams_iam_audit_finding(finding, config):
            seen.append(finding.nodeid)
            if finding.outcome == "fail":
                return {"ticket_queue": "iam-security", "owner": {"team": "platform"}}
            return None

        def pytest_sessionfinish(session):
            print("SEEN", len(seen), len(set(seen)))
    """)
    )
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001", "-s")
    failing = result.finding("AMS-USER-001", f"user/{LEGACY_USER}")
    assert failing["outcome"] == "fail"
    assert failing["evidence"]["ticket_queue"] == "iam-security"
    assert failing["evidence"]["owner"] == {"team": "platform"}
    passing = result.finding("AMS-USER-001", "user/alice")
    assert "ticket_queue" not in passing["evidence"]
    assert "SEEN 2 2" in result.stdout  # each finding once
    sarif = json.loads((result.report_dir / "results.sarif").read_text())
    assert sarif["runs"][0]["results"]


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ('{"created": "x"}', "would replace evidence created"),
        ('["not", "a", "mapping"]', "returned list"),
    ],
)
def test_a_finding_hook_that_would_rewrite_evidence_is_refused(
    pytester: pytest.Pytester, aws: Account, returned: str, message: str
) -> None:
    aws.iam.create_user(UserName=LEGACY_USER)
    pytester.makeconftest(f"def pytest_ams_iam_audit_finding(finding, config):\n    return {returned}\n")
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    assert result.ret not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    assert message in result.stdout + result.stderr
