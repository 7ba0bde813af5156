"""The plugin's own hooks (``ams_iam_audit.pytest_plugin.hooks``), implemented the way a team would: in a
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
        ("1 / 0", "pytest_ams_iam_audit_finding: ZeroDivisionError: division by zero"),  # the hook itself fails
    ],
)
def test_a_finding_hook_that_would_rewrite_evidence_is_refused(
    pytester: pytest.Pytester, aws: Account, returned: str, message: str
) -> None:
    aws.iam.create_user(UserName=LEGACY_USER)
    pytester.makeconftest(f"def pytest_ams_iam_audit_finding(finding, config):\n    return {returned}\n")
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stdout + result.stderr
    assert "INTERNALERROR" not in result.stdout + result.stderr  # a message, never a traceback


TEAM_CONFTEST = """
from ams_iam_audit import NotApplicable, Subject, register_area, register_scope


def _tagged_roles(ctx):
    roles = [r for r in ctx.inventory.roles if dict(r.tags).get("team")]
    if not roles:
        return [NotApplicable("no role carries a team tag")]
    return [Subject(id=f"role/{r.name}", arn=r.arn, value=r) for r in roles]


def pytest_ams_iam_audit_register(config):
    register_area("tagging", "resource tagging conventions")
    register_scope("team_role", "roles tagged with a team", _tagged_roles)
"""

TEAM_RULES = """
from ams_iam_audit import Bucket, Controls, Evidence, Role, rule


@rule(id="AMS-TAG-001", title="Team roles name an owner", severity="low", area="tagging", scope="team_role",
      rationale="Every team role needs an owner.", remediation="Tag it with owner=<person>.",
      controls=Controls(nist=("CM-8",)))
def test_team_roles_have_owner(team_role: Role, evidence: Evidence) -> None:
    evidence.add(tags=dict(team_role.tags))
    assert "owner" in dict(team_role.tags), f"{team_role.name} has no owner tag"


@rule(id="AMS-TAG-002", title="Buckets are tagged", severity="low", area="tagging", scope="bucket",
      rationale="Cost allocation.", remediation="Tag the bucket.", controls=Controls())
def test_buckets_named(bucket: Bucket) -> None:
    assert bucket.name.startswith("team-"), f"{bucket.name} does not follow the naming convention"
"""


def test_a_team_registers_an_area_and_a_scope_without_editing_the_package(
    pytester: pytest.Pytester, aws: Account
) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    for name, tags in (("owned", [("team", "ml"), ("owner", "ana")]), ("orphan", [("team", "ml")]), ("plain", [])):
        aws.iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
            Tags=[{"Key": k, "Value": v} for k, v in tags],
        )
    aws.s3.create_bucket(Bucket="team-data")
    aws.s3.create_bucket(Bucket="scratch")
    rules_dir = pytester.mkdir("team_rules")
    (rules_dir / "conftest.py").write_text(TEAM_CONFTEST)
    (rules_dir / "test_tagging.py").write_text(TEAM_RULES)
    result = audit_at(pytester, aws.url, "-m", "tagging", "team_rules")
    assert result.outcomes("AMS-TAG-001") == {"role/owned": "pass", "role/orphan": "fail"}
    assert result.outcomes("AMS-TAG-002") == {"bucket/team-data": "pass", "bucket/scratch": "fail"}
    assert {f["rule_id"] for f in result.findings} == {"AMS-TAG-001", "AMS-TAG-002"}  # -m selected the area
    rules = {r["id"]: r for r in result.document["rules"]}  # type: ignore[index]
    assert rules["AMS-TAG-001"]["scope"] == "team_role"


def test_registering_over_a_builtin_is_refused(pytester: pytest.Pytester, aws: Account) -> None:
    pytester.makeconftest(
        "from ams_iam_audit import register_area\n\n"
        "def pytest_ams_iam_audit_register(config):\n"
        "    register_area('s3', 'something else')\n"
    )
    result = audit_at(pytester, aws.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pytest_ams_iam_audit_register: area 's3' is defined already" in result.stderr


def test_a_failing_register_hook_is_a_usage_error_naming_it(pytester: pytest.Pytester, aws: Account) -> None:
    pytester.makeconftest("def pytest_ams_iam_audit_register(config):\n    raise KeyError('tagging')\n")
    result = audit_at(pytester, aws.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "pytest_ams_iam_audit_register: KeyError: 'tagging'" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_registrations_do_not_outlive_the_run(pytester: pytest.Pytester, aws: Account) -> None:
    from ams_iam_audit.rule import AREAS, BUILTIN_AREAS
    from ams_iam_audit.scopes import BUILTIN_SCOPES, SCOPES

    rules_dir = pytester.mkdir("team_rules")
    (rules_dir / "conftest.py").write_text(TEAM_CONFTEST)
    (rules_dir / "test_tagging.py").write_text(TEAM_RULES)
    audit_at(pytester, aws.url, "-m", "tagging", "team_rules")
    assert set(AREAS) == BUILTIN_AREAS
    assert set(SCOPES) == BUILTIN_SCOPES


def test_a_finding_hook_can_neither_edit_in_place_nor_leak_a_key_id(pytester: pytest.Pytester, aws: Account) -> None:
    """Review finding: the hook got the filed finding itself (its evidence editable in place), and keys
    of the evidence it added were neither masked nor checked for clashes as stored."""
    aws.iam.create_user(UserName=LEGACY_USER)
    pytester.makeconftest(
        textwrap.dedent("""
        def pytest_ams_iam_audit_finding(finding, config):
            finding.evidence["created"] = "edited in place"
            return {"owner": {"AKIAIOSFODNN7EXAMPLE": "alice"}}
    """)
    )
    result = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    found = result.finding("AMS-USER-001", f"user/{LEGACY_USER}")
    assert found["evidence"]["created"] != "edited in place"
    assert "AKIAIOSFODNN7EXAMPLE" not in json.dumps(result.document)
    assert "AKIAIOSFODNN7EXAMPLE" not in (result.report_dir / "report.html").read_text()
    assert list(found["evidence"]["owner"]) == ["AKIA************MPLE"] or "AKIA" in next(
        iter(found["evidence"]["owner"])
    )
