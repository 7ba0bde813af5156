"""How the plugin behaves for a user: guards, errors, coverage gaps, selection, xdist, team rules."""

from __future__ import annotations

import json
import textwrap

import pytest
from aws_proxy import lambda_list_functions, proxy_to, query_action, s3_bucket_policy, s3_list_buckets
from conftest import ACCOUNT, OTHER_ACCOUNT, Account, Audit, audit_at, run_audit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--aws-account", "12345"], "--aws-account: '12345' is neither a 12-digit account id nor 'demo'"),
        (["--aws-account", ACCOUNT, "--aws-region", "mars-1"], "--aws-region: 'mars-1' is not a region name"),
        (
            ["--aws-account", ACCOUNT, "--aws-role-arn", "arn:aws:iam::1:user/x"],
            "--aws-role-arn: 'arn:aws:iam::1:user/x'",
        ),
        (["--aws-account", "demo", "--snapshot", "x.json"], "--snapshot and --aws-account demo exclude each other"),
    ],
)
def test_bad_options(pytester: pytest.Pytester, args: list[str], message: str) -> None:
    result = run_audit(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr, result.stderr
    assert result.document is None


def test_account_guard(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    result = run_audit(pytester, "--aws-account", OTHER_ACCOUNT, "--aws-endpoint-url", aws.url)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--aws-account is {OTHER_ACCOUNT} but the credentials reach account {ACCOUNT}" in result.stderr
    assert "nothing was audited" in result.stderr
    assert result.document is None
    # An assumed role in another account is caught the same way, naming both accounts.
    assumed = audit_at(
        pytester,
        aws.url,
        "--aws-role-arn",
        f"arn:aws:iam::{OTHER_ACCOUNT}:role/auditor",
    )
    assert assumed.ret == pytest.ExitCode.USAGE_ERROR
    assert f"reach account {OTHER_ACCOUNT} as arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/auditor" in assumed.stderr


def test_assume_role_failure_names_the_role(pytester: pytest.Pytester, aws: Account) -> None:
    with proxy_to(aws.url, query_action("AssumeRole")) as proxy:
        result = audit_at(
            pytester,
            proxy.url,
            "--aws-role-arn",
            f"arn:aws:iam::{ACCOUNT}:role/auditor",
        )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"cannot assume role arn:aws:iam::{ACCOUNT}:role/auditor: AccessDenied" in result.stderr
    assert result.document is None


def test_unreadable_sections_are_errors_never_passes(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.iam.create_access_key(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.role("lambda_role_abc")
    aws.s3.create_bucket(Bucket="aimodelshare-data")
    denies = (s3_list_buckets(), lambda_list_functions(), query_action("GenerateCredentialReport"))
    with proxy_to(aws.url, *denies) as proxy:
        result = audit_at(
            pytester,
            proxy.url,
            "-k",
            "AMS-S3-001 or AMS-USER-001 or AMS-ROLE-001",
        )
    assert proxy.denied
    s3 = result.finding("AMS-S3-001", "unreadable-s3")
    assert s3["outcome"] == "error"
    assert s3["evidence"]["unreadable"][0]["missing_permission"] == "s3:ListAllMyBuckets"
    assert "AccessDenied" in s3["message"]
    # Consumers of the role could not be listed: the evidence says so instead of "no consumers".
    role = result.finding("AMS-ROLE-001", "role/lambda_role_abc")["evidence"]
    assert role["consumers_complete"] is False
    assert any("lambda:us-east-1" in gap and "lambda:ListFunctions" in gap for gap in role["consumers_unreadable"])
    # The credential report was refused: keys come from ListAccessKeys instead, with their masked ids.
    keys = result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_01_01_00_00_00")["evidence"]["access_keys"]
    assert keys[0]["id"].startswith("AKIA")
    assert "*" in keys[0]["id"]
    assert result.document is not None
    coverage = {c["section"]: c for c in result.document["coverage"]}
    assert coverage["access_keys"]["source"].startswith("ListAccessKeys (credential report unavailable")
    assert coverage["s3"]["readable"] is False
    assert "coverage gap: s3: unreadable" in result.stdout
    assert result.ret == 1


def test_iam_unreadable_means_every_iam_rule_errors(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="alice")
    with proxy_to(aws.url, query_action("GetAccountAuthorizationDetails")) as proxy:
        result = audit_at(
            pytester,
            proxy.url,
            "--aws-execution-role-arn",
            f"arn:aws:iam::{ACCOUNT}:role/exec",
        )
    # they read no IAM (the root user, the password policy and Access Analyzer are calls of their own)
    not_iam = {"AMS-S3-001", "AMS-S3-003", "AMS-SECRET-001", "AMS-TRAIL-001"}
    not_iam |= {"AMS-CRED-001", "AMS-CRED-002", "AMS-CRED-007", "AMS-ACCT-003"}
    outcomes = {f["outcome"] for f in result.findings if f["rule_id"] not in not_iam}
    assert outcomes == {"error"}, result.outcomes()
    assert all(
        "iam:GetAccountAuthorizationDetails" in json.dumps(f["evidence"])
        for f in result.findings
        if f["outcome"] == "error"
    )
    assert not [f for f in result.findings if f["outcome"] == "pass" and f["rule_id"] not in not_iam]
    assert result.ret == 1


def test_one_unreadable_bucket_policy(pytester: pytest.Pytester, aws: Account) -> None:
    for bucket in ("readable-bucket", "secret-bucket"):
        aws.s3.create_bucket(Bucket=bucket)
        aws.s3.put_bucket_policy(
            Bucket=bucket,
            Policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                            "Action": "s3:GetObject",
                            "Resource": f"arn:aws:s3:::{bucket}/*",
                        }
                    ],
                }
            ),
        )
    with proxy_to(aws.url, s3_bucket_policy("secret-bucket")) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-S3-001")
    assert result.outcomes("AMS-S3-001") == {"bucket/readable-bucket": "pass", "bucket/secret-bucket": "error"}
    error = result.finding("AMS-S3-001", "bucket/secret-bucket")["evidence"]["unreadable"][0]
    assert error["missing_permission"] == "s3:GetBucketPolicy"


def test_selection_by_marker_and_rule_id(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.policy("s3-all", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    critical = audit("-m", "critical")
    assert {f["rule_id"] for f in critical.findings} == {
        "AMS-PRIV-001",
        "AMS-PRIV-004",
        "AMS-EXEC-001",
        "AMS-EXEC-002",
        "AMS-SECRET-001",
        "AMS-S3-003",
        "AMS-CRED-001",
        "AMS-CRED-002",
    }
    s3_area = audit("-m", "s3")
    assert {f["rule_id"] for f in s3_area.findings} == {"AMS-S3-001", "AMS-S3-002", "AMS-S3-003"}
    by_id = audit("-k", "AMS-USER-001")
    assert by_id.outcomes() == {"AMS-USER-001 user/AI_MODELSHARE_2024_01_01_00_00_00": "fail"}


def test_team_rules_add_to_builtins_and_builtins_can_be_turned_off(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="bob")
    pytester.makepyfile(
        test_team_rules=textwrap.dedent("""
        from ams_iam_audit import Controls, Evidence, User, rule

        @rule(id="AMS-TEAM-001", title="Users are tagged with an owner", severity="low", area="users",
              scope="user", rationale="Every user needs an owner.", remediation="Tag it with owner=<team>.",
              controls=Controls(nist=("CM-8",)))
        def test_users_have_owner(user: User, evidence: Evidence) -> None:
            evidence.add(tags=dict(user.tags))
            assert "owner" in dict(user.tags), f"{user.name} has no owner tag"
    """)
    )
    both = audit_at(pytester, aws.url, "test_team_rules.py")
    assert both.outcomes("AMS-TEAM-001") == {"user/bob": "fail"}
    assert both.outcomes("AMS-USER-001") == {"user/bob": "pass"}
    only_team = audit_at(pytester, aws.url, "--aws-no-builtin-rules", "test_team_rules.py")
    assert {f["rule_id"] for f in only_team.findings} == {"AMS-TEAM-001"}


def test_rule_whose_scope_is_not_an_argument_is_reported(pytester: pytest.Pytester, aws: Account) -> None:
    pytester.makepyfile(
        test_broken=textwrap.dedent("""
        from ams_iam_audit import Controls, rule

        @rule(id="AMS-TEAM-002", title="t", severity="low", area="users", scope="user", rationale="r",
              remediation="r", controls=Controls())
        def test_broken(role) -> None:
            pass
    """)
    )
    result = audit_at(pytester, aws.url, "--aws-no-builtin-rules", "test_broken.py")
    assert "rule AMS-TEAM-002" in result.stdout + result.stderr
    assert "takes no 'user' argument" in result.stdout + result.stderr
    assert result.ret != 0
    assert result.document is None or result.document["run"]["complete"] is False


def test_xdist_gives_the_same_findings(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    aws.policy("s3-all", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    aws.role("codebuild_role")
    serial = audit_at(pytester, aws.url, "-n", "0", subprocess=True)
    parallel = audit_at(pytester, aws.url, "-n", "2", subprocess=True)
    assert serial.outcomes()
    assert parallel.outcomes() == serial.outcomes()
    assert parallel.ret == serial.ret == 1
    # one account is audited faster without -n (bench/README.md measures it): -n is set aside, and said so
    assert "-n/--dist ignored: one account is audited in one process" in parallel.stdout
    assert "-n/--dist ignored" not in serial.stdout
    # the cases were made here, in this one process (an xdist controller makes none)
    assert parallel.document is not None
    assert "cases" in parallel.document["run"]["timings_seconds"]


def test_dormant_without_audit_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "ams-iam-audit-report").exists()


def test_ini_keys_and_boto3_endpoint_variable(
    pytester: pytest.Pytester, aws: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings can live in the project's ini file; the endpoint can come from boto3's own variable."""
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    pytester.makeini(f"[pytest]\naws_account = {ACCOUNT}\naws_region =\n    us-east-1\n    eu-west-1\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.url)
    result = run_audit(pytester, "-k", "AMS-USER-001")
    assert result.outcomes("AMS-USER-001") == {"user/AI_MODELSHARE_2024_01_01_00_00_00": "fail"}
    assert result.document is not None
    assert result.document["run"]["regions"] == ["us-east-1", "eu-west-1"]


def test_rule_node_ids_do_not_move_with_option_values(
    pytester: pytest.Pytester, aws: Account, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """pytest derives its rootdir from path-like arguments, option values included: a snapshot saved
    far away must not change the built-in rules' node ids (findings.json, JUnit, --lf, --deselect)."""
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_01_01_00_00_00")
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "snapshot.json"
    here = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    far = audit_at(pytester, aws.url, "-k", "AMS-USER-001", "--save-snapshot", str(elsewhere))
    assert elsewhere.is_file()
    ids = sorted(f["nodeid"] for f in here.findings)
    assert ids == sorted(f["nodeid"] for f in far.findings)
    assert ids == ["rules/test_users.py::test_no_ephemeral_users[user/AI_MODELSHARE_2024_01_01_00_00_00]"]
