"""``--fix`` that cannot break production: a legacy role used recently is kept (``--fix-min-idle-days``),
and the demo's terminal free of its moto server's log.

Against the test's moto server over HTTP, through the loopback proxy (``moto_gaps`` answers what moto
lacks). Moto never fills a role's ``RoleLastUsed``; the tests set it in moto's own backend (the server
runs in this process), so the code under test reads it from GetAccountAuthorizationDetails and
GetRole exactly as it does from AWS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_proxy import query_action
from conftest import ACCOUNT, Account, AuditResult, audit_at, run_audit
from moto_gaps import all_gaps
from test_fix import (
    _SESSION,
    SHARED,
    account_state,
    fix,
    seed_demo,
)

from ams_iam_audit import AuditContext, Finding
from ams_iam_audit.aws import AwsClients, caller_identity
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.remediate import FixContext, Journal, apply_plan, make_plan
from ams_iam_audit.remediate.journal import read_journal

LAMBDA_ROLE = "lambda_role_a1b2c3d4e5"
LAMBDA_FUNCTION = "modfunctiona1b2c3d4e5"
ORPHAN_ROLE = "mymodel-codebuild-role"  # a legacy role no Lambda, CodeBuild or API Gateway consumer uses


def used(name: str, days: float, region: str = "us-east-1") -> datetime:
    """Record in moto's backend that role ``name`` was last used ``days`` ago in ``region``."""
    from moto.iam.models import iam_backends

    role = iam_backends[ACCOUNT]["aws"].get_role(name)
    when = datetime.now(UTC) - timedelta(days=days)
    role.last_used = when
    role.last_used_region = region
    return when


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


# --- a role used recently is kept ---------------------------------------------------------------


def test_a_role_used_two_days_ago_is_kept_with_the_reason(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    when = used(LAMBDA_ROLE, 2)
    used(ORPHAN_ROLE, 2)
    result, _ = fix(pytester, aws, "--fix")
    assert result.ret == 1

    kept = result.finding("AMS-ROLE-001", f"role/{LAMBDA_ROLE}")
    assert kept["outcome"] == "fail"
    assert (
        f"(not fixed: role last used {when:%Y-%m-%d} in us-east-1, 2 days ago, within --fix-min-idle-days=30; "
        f"the consumers re-pointed this run were lambda/{LAMBDA_FUNCTION}, but IAM does not say who used the "
        "role, so it is kept: a later --fix retires it once it has been unused for 30 days)"
    ) in kept["message"]
    orphan = result.finding("AMS-ROLE-001", f"role/{ORPHAN_ROLE}")
    assert orphan["outcome"] == "fail"
    assert (
        "2 days ago, within --fix-min-idle-days=30, and no consumer this run reads (Lambda, CodeBuild, API "
        "Gateway) uses it: something else does"
    ) in orphan["message"]
    # its policies stay with it; every other legacy role is retired as before
    assert result.finding("AMS-ROLE-002", "policy/lambda_policy_a1b2c3d4e5")["outcome"] == "fail"
    assert (
        "not fixable: AMS-ROLE-002 policy/lambda_policy_a1b2c3d4e5: still attached to role/lambda_role_a1b2c3d4e5"
    ) in result.stdout
    assert result.finding("AMS-ROLE-001", "role/codebuild_role")["outcome"] == "fixed"

    state = account_state(aws.url)
    assert state["roles"][LAMBDA_ROLE] == ["lambda_policy_a1b2c3d4e5"]
    assert state["roles"][ORPHAN_ROLE] == ["mymodel-codebuild-policies"]
    assert state["lambda"][LAMBDA_FUNCTION] == SHARED + "lambda-exec"  # the known consumer moved all the same
    assert "not fixable: AMS-ROLE-001 role/lambda_role_a1b2c3d4e5: role last used" in result.stdout


def test_the_dry_run_says_the_same(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    used(ORPHAN_ROLE, 3)
    result, _ = fix(pytester, aws, "--fix-dry-run")
    finding = result.finding("AMS-ROLE-001", f"role/{ORPHAN_ROLE}")
    assert finding["evidence"]["planned_fix"]["not_fixable"].startswith("role last used ")
    assert "3 days ago, within --fix-min-idle-days=30" in finding["evidence"]["planned_fix"]["not_fixable"]


def test_a_role_used_forty_days_ago_is_retired(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    used(LAMBDA_ROLE, 40)
    used(ORPHAN_ROLE, 40)
    result, _ = fix(pytester, aws, "--fix")
    assert result.ret == 0, result.stdout
    for name in (LAMBDA_ROLE, ORPHAN_ROLE):
        finding = result.finding("AMS-ROLE-001", f"role/{name}")
        assert finding["outcome"] == "fixed"
        assert finding["evidence"]["fix"]["last_use_check"] == (
            "RoleLastUsed, read just before the role was emptied, older than 30 days; IAM's service last "
            "accessed data: no service accessed in its tracking period"
        )
    assert {LAMBDA_ROLE, ORPHAN_ROLE}.isdisjoint(account_state(aws.url)["roles"])


def test_fix_min_idle_days_0_retires_a_role_used_recently(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    used(LAMBDA_ROLE, 2)
    result, requests = fix(pytester, aws, "--fix", "--fix-min-idle-days", "0")
    assert result.ret == 0, result.stdout
    finding = result.finding("AMS-ROLE-001", f"role/{LAMBDA_ROLE}")
    assert finding["outcome"] == "fixed"
    assert finding["evidence"]["fix"]["last_use_check"] == "not checked: --fix-min-idle-days=0"
    assert not [r for r in requests if r.operation == "GenerateServiceLastAccessedDetails"]


def test_a_recent_use_in_the_service_last_accessed_data_keeps_the_role(pytester: pytest.Pytester, aws: Account) -> None:
    """RoleLastUsed empty, but IAM's service last accessed data says the role read S3 three days
    ago (the job is polled until it completes): the role is kept, its consumers re-pointed."""
    seed_demo(aws)
    when = datetime.now(UTC) - timedelta(days=3)
    gaps = all_gaps({role_arn(LAMBDA_ROLE): ("s3", when, "us-east-1")}, polls_in_progress=1)
    with _proxy(aws, *gaps) as proxy:
        result = audit_at(pytester, proxy.url, "--fix")
    finding = result.finding("AMS-ROLE-001", f"role/{LAMBDA_ROLE}")
    assert finding["outcome"] == "fail"
    assert (
        f"(not fixed: empty-role role/{LAMBDA_ROLE} refused: role last used {when:%Y-%m-%d} in us-east-1 (IAM's "
        "service last accessed data: s3), 3 days ago, within --fix-min-idle-days=30; the consumers re-pointed "
        f"this run were lambda/{LAMBDA_FUNCTION}"
    ) in finding["message"]
    state = account_state(aws.url)
    assert state["roles"][LAMBDA_ROLE] == ["lambda_policy_a1b2c3d4e5"]
    assert state["lambda"][LAMBDA_FUNCTION] == SHARED + "lambda-exec"
    assert result.finding("AMS-ROLE-001", "role/codebuild_role")["outcome"] == "fixed"


def test_denied_service_last_accessed_data_falls_back_to_role_last_used_and_says_so(
    pytester: pytest.Pytester, aws: Account
) -> None:
    seed_demo(aws)
    with _proxy(aws, query_action("GenerateServiceLastAccessedDetails"), *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix")
    assert result.ret == 0, result.stdout
    assert (
        "note: IAM's service last accessed data is unavailable for 5 of 5 role(s) to retire (AccessDenied: "
        "denied by the test proxy): their last use is judged by RoleLastUsed alone"
    ) in result.stdout
    check = result.finding("AMS-ROLE-001", "role/codebuild_role")["evidence"]["fix"]["last_use_check"]
    assert "service last accessed data unavailable (AccessDenied: denied by the test proxy): RoleLastUsed alone" in (
        check
    )


def test_a_role_used_after_the_audit_read_it_is_kept(pytester: pytest.Pytester, aws: Account) -> None:
    """The plan is made from the inventory; the role's RoleLastUsed is read again just before it is
    emptied, and a use since then keeps it (nothing of it changed)."""
    seed_demo(aws)
    audited = audit_at(pytester, aws.url, "-k", "AMS-ROLE-001")
    findings = [
        Finding.from_json(f)
        for f in audited.findings
        if f["outcome"] == "fail" and f["resource"] == f"role/{ORPHAN_ROLE}"
    ]
    tmp_path = pytester.path
    with _proxy(aws, *all_gaps()) as proxy:
        clients, identity = AwsClients(_SESSION, proxy.url), caller_identity(_SESSION, proxy.url)
        inventory = collect(clients, identity, ("us-east-1",))
        plan = make_plan(findings, AuditContext(inventory=inventory))
        assert [a.key for a in plan.actions] == [f"empty-role role/{ORPHAN_ROLE}", f"delete-role role/{ORPHAN_ROLE}"]
        used(ORPHAN_ROLE, 0.01)
        with Journal(tmp_path / "j.jsonl", ACCOUNT, identity.arn) as journal:
            results = apply_plan(plan, FixContext(clients, journal, inventory), journal)
    assert results[f"empty-role role/{ORPHAN_ROLE}"].status == "refused"
    assert "today, within --fix-min-idle-days=30" in str(results[f"empty-role role/{ORPHAN_ROLE}"].reason)
    assert results[f"delete-role role/{ORPHAN_ROLE}"].status == "skipped"
    assert read_journal(tmp_path / "j.jsonl").entries == ()
    assert account_state(aws.url)["roles"][ORPHAN_ROLE] == ["mymodel-codebuild-policies"]


def _proxy(aws: Account, *rules: Any) -> Any:
    from aws_proxy import proxy_to

    return proxy_to(aws.url, *rules)


# --- the demo's terminal --------------------------------------------------------------------------


def test_the_demo_fix_prints_no_moto_traceback(pytester: pytest.Pytester) -> None:
    """The demo's moto server lacks calls ``--fix`` makes (ListServiceSpecificCredentials when a user
    is retired): its own log of them must not reach the user's terminal."""
    result: AuditResult = run_audit(pytester, "--aws-account", "demo", "--fix", subprocess=True)
    assert result.ret == 1
    assert result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_03_11_14_22_05")["outcome"] == "fixed"
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
        assert "NotImplementedError" not in stream
        assert "Error on request" not in stream
    assert "IAM's service last accessed data is unavailable for" in result.stdout
    assert json.loads((result.report_dir / "fix-plan.json").read_text())["mode"] == "apply"
