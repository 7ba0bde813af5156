"""AMS-ACCT-001..003 (CIS 1.15, 1.17, 1.20) against a moto account: users' own policies, a support
role, Access Analyzer in every audited region; near misses that must not pass, and denied reads that
are errors naming the permission.

moto 5 lacks Access Analyzer: the tests' moto server answers it through ``demo.AccessAnalyzerEmulation``
(boto3's CreateAnalyzer, ListAnalyzers and DeleteAnalyzer over HTTP, as against AWS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from aws_proxy import Deny, is_get, is_query, json_answer, proxy_to
from conftest import ACCOUNT, Account, Audit, audit_at, run_audit

ACCOUNT_CASE = f"account/{ACCOUNT}"


# --- AMS-ACCT-001: permissions through groups ------------------------------------------------------


def test_users_with_their_own_policies_fail(aws: Account, audit: Audit) -> None:
    read = aws.policy("read", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    aws.iam.create_user(UserName="attached")
    aws.iam.attach_user_policy(UserName="attached", PolicyArn=read)
    aws.iam.create_user(UserName="inline")
    aws.iam.put_user_policy(
        UserName="inline",
        PolicyName="own",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    aws.iam.create_group(GroupName="readers")
    aws.iam.attach_group_policy(GroupName="readers", PolicyArn=read)
    aws.iam.create_user(UserName="grouped")
    aws.iam.add_user_to_group(GroupName="readers", UserName="grouped")
    aws.iam.create_user(UserName="nothing")
    result = audit("-k", "AMS-ACCT-001")
    assert result.outcomes("AMS-ACCT-001") == {
        "user/attached": "fail",
        "user/inline": "fail",
        "user/grouped": "pass",
        "user/nothing": "pass",
    }
    assert "managed read" in result.finding("AMS-ACCT-001", "user/attached")["message"]
    assert "inline own" in result.finding("AMS-ACCT-001", "user/inline")["message"]


def test_users_unreadable_is_an_error(aws: Account, pytester: pytest.Pytester) -> None:
    aws.iam.create_user(UserName="someone")
    with proxy_to(aws.url, Deny("query", is_query("GetAccountAuthorizationDetails"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-ACCT-001 or AMS-ACCT-002")
    for rule in ("AMS-ACCT-001", "AMS-ACCT-002"):
        (finding,) = [f for f in result.findings if f["rule_id"] == rule]
        assert finding["outcome"] == "error"
        assert "iam:GetAccountAuthorizationDetails" in finding["message"]


# --- AMS-ACCT-002: a support role ------------------------------------------------------------------


def test_no_support_role_fails(audit: Audit) -> None:
    finding = audit("-k", "AMS-ACCT-002").finding("AMS-ACCT-002", ACCOUNT_CASE)
    assert finding["outcome"] == "fail"
    assert "no role has AWSSupportAccess attached" in finding["message"]


def test_a_support_role_passes(aws: Account, audit: Audit) -> None:
    aws.support_role("incident-support")
    finding = audit("-k", "AMS-ACCT-002").finding("AMS-ACCT-002", ACCOUNT_CASE)
    assert finding["outcome"] == "pass"
    assert finding["evidence"]["support_roles"] == ["incident-support"]


def test_support_access_held_by_a_user_or_group_is_not_a_role(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="oncall")
    support = aws.aws_managed_policy("AWSSupportAccess")
    aws.iam.attach_user_policy(UserName="oncall", PolicyArn=support)
    aws.iam.create_group(GroupName="support")
    aws.iam.attach_group_policy(GroupName="support", PolicyArn=support)
    # a role of a similar name with another policy
    aws.role("support-role", None, aws.aws_managed_policy("ReadOnlyAccess"))
    finding = audit("-k", "AMS-ACCT-002").finding("AMS-ACCT-002", ACCOUNT_CASE)
    assert finding["outcome"] == "fail"
    assert "user/oncall" in finding["message"]
    assert "group/support" in finding["message"]


def test_a_customer_policy_named_like_support_access_is_not_it(aws: Account, audit: Audit) -> None:
    lookalike = aws.policy("AWSSupportAccess", {"Effect": "Allow", "Action": "support:*", "Resource": "*"})
    aws.role("fake-support", None, lookalike)
    assert audit("-k", "AMS-ACCT-002").outcomes("AMS-ACCT-002") == {ACCOUNT_CASE: "fail"}


# --- AMS-ACCT-003: Access Analyzer -----------------------------------------------------------------


def _analyzers(aws: Account, region: str = "us-east-1") -> Any:
    return aws.client("accessanalyzer", region)


def test_an_active_account_analyzer_passes(audit: Audit) -> None:
    finding = audit("-k", "AMS-ACCT-003").finding("AMS-ACCT-003", ACCOUNT_CASE)
    assert finding["outcome"] == "pass"
    assert finding["evidence"]["regions"] == [{"region": "us-east-1", "active": ["account"]}]


def test_no_analyzer_fails(aws: Account, audit: Audit) -> None:
    _analyzers(aws).delete_analyzer(analyzerName="account")
    finding = audit("-k", "AMS-ACCT-003").finding("AMS-ACCT-003", ACCOUNT_CASE)
    assert finding["outcome"] == "fail"
    assert "us-east-1" in finding["message"]


def test_every_audited_region_needs_one(aws: Account, audit: Audit) -> None:
    _analyzers(aws, "eu-west-1").create_analyzer(analyzerName="eu", type="ACCOUNT")
    result = audit(
        "-k", "AMS-ACCT-003", "--aws-region", "us-east-1", "--aws-region", "eu-west-1", "--aws-region", "ap-south-1"
    )
    finding = result.finding("AMS-ACCT-003", ACCOUNT_CASE)
    assert finding["outcome"] == "fail"
    assert "ap-south-1" in finding["message"]
    assert "eu-west-1" not in finding["message"]


def test_an_analyzer_elsewhere_does_not_count(aws: Account, audit: Audit) -> None:
    _analyzers(aws).delete_analyzer(analyzerName="account")
    _analyzers(aws, "eu-west-1").create_analyzer(analyzerName="eu", type="ACCOUNT")
    assert audit("-k", "AMS-ACCT-003").outcomes("AMS-ACCT-003") == {ACCOUNT_CASE: "fail"}


def test_an_unused_access_analyzer_does_not_count(aws: Account, audit: Audit) -> None:
    _analyzers(aws).delete_analyzer(analyzerName="account")
    _analyzers(aws).create_analyzer(analyzerName="unused", type="ACCOUNT_UNUSED_ACCESS")
    finding = audit("-k", "AMS-ACCT-003").finding("AMS-ACCT-003", ACCOUNT_CASE)
    assert finding["outcome"] == "fail"
    assert "unused (ACCOUNT_UNUSED_ACCESS, ACTIVE)" in finding["message"]


def test_an_analyzer_that_is_not_active_does_not_count(aws: Account, pytester: pytest.Pytester) -> None:
    def failed(answer: dict[str, Any]) -> None:
        for analyzer in answer["analyzers"]:
            analyzer["status"] = "FAILED"

    with proxy_to(aws.url, json_answer(is_get("/analyzer"), failed)) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-ACCT-003")
    finding = result.finding("AMS-ACCT-003", ACCOUNT_CASE)
    assert finding["outcome"] == "fail"
    assert "account (ACCOUNT, FAILED)" in finding["message"]


def test_analyzers_denied_are_errors(aws: Account, pytester: pytest.Pytester) -> None:
    with proxy_to(aws.url, Deny("json", is_get("/analyzer"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-ACCT-003")
    finding = result.finding("AMS-ACCT-003", "unreadable-accessanalyzer")
    assert finding["outcome"] == "error"
    assert "access-analyzer:ListAnalyzers" in finding["message"]


def test_one_region_denied_is_an_error_unless_another_fails(aws: Account, pytester: pytest.Pytester) -> None:
    """Analyzers readable and active in us-east-1, eu-west-1 denied: not known, an error; with
    us-east-1 failing too, the account fails (a known failure is not hidden behind the gap)."""
    eu_west = Deny("json", lambda r: is_get("/analyzer")(r) and r.region == "eu-west-1")
    regions = ("--aws-region", "us-east-1", "--aws-region", "eu-west-1")
    with proxy_to(aws.url, eu_west) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-ACCT-003", *regions)
    finding = result.finding("AMS-ACCT-003", ACCOUNT_CASE)
    assert finding["outcome"] == "error"
    assert "accessanalyzer:eu-west-1" in finding["message"]
    assert "access-analyzer:ListAnalyzers" in finding["message"]
    _analyzers(aws).delete_analyzer(analyzerName="account")
    with proxy_to(aws.url, eu_west) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-ACCT-003", *regions)
    assert result.outcomes("AMS-ACCT-003") == {ACCOUNT_CASE: "fail"}


def test_a_gaad_file_cannot_say(aws: Account, pytester: pytest.Pytester) -> None:
    """A GetAccountAuthorizationDetails file holds IAM only: the account-wide reads are errors."""
    path = pytester.path / "gaad.json"
    aws.iam.create_user(UserName="x")
    gaad = cast(dict[str, Any], aws.iam.get_account_authorization_details())
    gaad.pop("ResponseMetadata")
    path.write_text(json.dumps(gaad, default=str))
    result = run_audit(pytester, "--snapshot", str(path), "-k", "AMS-ACCT or AMS-CRED")
    outcomes = result.outcomes()
    assert outcomes["AMS-ACCT-001 user/x"] == "pass"
    assert outcomes[f"AMS-ACCT-002 {ACCOUNT_CASE}"] == "fail"  # the roles are in the file
    for key, outcome in outcomes.items():
        if not key.startswith(("AMS-ACCT-001", "AMS-ACCT-002")):
            assert outcome == "error", key


def test_a_snapshot_judges_the_same(aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path) -> None:
    _analyzers(aws, "eu-west-1").create_analyzer(analyzerName="eu", type="ACCOUNT")
    snapshot = tmp_path / "snapshot.json"
    regions = ("--aws-region", "us-east-1", "--aws-region", "eu-west-1")
    live = audit("-k", "AMS-ACCT", *regions, "--save-snapshot", str(snapshot))
    offline = run_audit(pytester, "--snapshot", str(snapshot), "-k", "AMS-ACCT")
    assert offline.outcomes() == live.outcomes()
    assert live.outcomes("AMS-ACCT-003") == {ACCOUNT_CASE: "pass"}
    assert (
        offline.finding("AMS-ACCT-003", ACCOUNT_CASE)["evidence"]
        == live.finding("AMS-ACCT-003", ACCOUNT_CASE)["evidence"]
    )
