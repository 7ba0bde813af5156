"""``--fix`` that cannot break production: a legacy role used recently is kept (``--fix-min-idle-days``),
one run at a time per account (the fix lock), and the demo's terminal free of its moto server's log.

Against the test's moto server over HTTP, through the loopback proxy (``moto_gaps`` answers what moto
lacks). Moto never fills a role's ``RoleLastUsed``; the tests set it in moto's own backend (the server
runs in this process), so the code under test reads it from GetAccountAuthorizationDetails and
GetRole exactly as it does from AWS.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_proxy import Deny, query_action
from conftest import ACCOUNT, Account, AuditResult, audit_at, run_audit
from moto_gaps import all_gaps
from test_fix import (
    _SESSION,
    EXEC_TRUST,
    LOCK,
    SHARED,
    account_state,
    fix,
    journal_of,
    lock_entries,
    plan_entries,
    seed_demo,
    writes,
)

from ams_iam_audit import AuditContext, Finding, iam_utils
from ams_iam_audit.aws import AwsClients, caller_identity
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.pytest_plugin.fixing import LOCK_ACTION
from ams_iam_audit.remediate import FixContext, Journal, apply_plan, make_plan
from ams_iam_audit.remediate.journal import read_journal
from ams_iam_audit.remediate.plan import recent_use

LAMBDA_ROLE = "lambda_role_a1b2c3d4e5"
LAMBDA_FUNCTION = "modfunctiona1b2c3d4e5"
ORPHAN_ROLE = "mymodel-codebuild-role"  # a legacy role no Lambda, CodeBuild or API Gateway consumer uses


def used(name: str, days: float, region: str = "us-east-1") -> datetime:
    """Record in moto's backend that role ``name`` was last used ``days`` ago in ``region``."""
    from moto.iam.models import iam_backends

    role: Any = iam_backends[ACCOUNT]["aws"].get_role(name)  # moto's model: its last_used fields start as None
    when = datetime.now(UTC) - timedelta(days=days)
    role.last_used = when
    role.last_used_region = region
    return when


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def lock_exists(aws: Account) -> bool:
    try:
        aws.iam.get_policy(PolicyArn=LOCK)
    except aws.iam.exceptions.NoSuchEntityException:
        return False
    return True


def take_lock(aws: Account, run_id: str, *, taken: datetime, ttl: timedelta) -> None:
    """Another run's lock, as that run took it."""
    iam_utils.acquire_fix_lock(aws.iam, LOCK, run_id, host="ci-runner-7", pid="4242", ttl=ttl, now=taken)


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
        result = audit_at(pytester, proxy.url, "--fix", *EXEC_TRUST)
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


def test_an_ephemeral_user_whose_key_was_used_recently_is_kept(pytester: pytest.Pytester, aws: Account) -> None:
    """Issue 16's first half: a deleted access key cannot come back, so a user whose key a client
    used within --fix-min-idle-days is kept with the reason; the others are retired."""
    from moto.iam.models import AccessKeyLastUsed, iam_backends

    seed_demo(aws)
    user = "AI_MODELSHARE_2024_06_02_09_10_41"
    (key,) = aws.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    when = datetime.now(UTC) - timedelta(days=1, hours=1)
    backend = iam_backends[ACCOUNT]["aws"]
    backend.access_keys[key["AccessKeyId"]].last_used = AccessKeyLastUsed(when, "s3", "us-east-1")
    result, _ = fix(pytester, aws, "--fix")
    finding = result.finding("AMS-USER-001", f"user/{user}")
    assert finding["outcome"] == "fail"
    assert (
        f"last used {when:%Y-%m-%d} with s3 in us-east-1, 1 day ago, within --fix-min-idle-days=30: "
        "a client still signs" in (finding["message"])
    )
    assert key["AccessKeyId"] not in json.dumps(result.document)  # named masked, as everywhere
    assert user in account_state(aws.url)["users"]
    assert result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_03_11_14_22_05")["outcome"] == "fixed"

    again, _ = fix(pytester, aws, "--fix", "--fix-min-idle-days", "0")
    assert again.finding("AMS-USER-001", f"user/{user}")["outcome"] == "fixed"


def test_the_idle_window_boundaries() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def kept(last: datetime | None, days: int = 30) -> str | None:
        return recent_use(last, "us-east-1", now=now, min_idle_days=days, repointed=())

    assert kept(None) is None  # never used in IAM's tracking period
    assert kept(now - timedelta(days=30)) is None  # exactly the window: idle long enough
    assert kept(now - timedelta(days=29, hours=23)) is not None
    assert "29 days ago" in str(kept(now - timedelta(days=29, hours=23)))
    assert "2026-12-02 in us-east-1, today," in str(kept(now - timedelta(minutes=5)))
    assert "today" in str(kept(now + timedelta(minutes=5)))  # a clock ahead of ours: just used
    assert "1 day ago" in str(kept(datetime(2026, 12, 1, 11, 0)))  # no zone: IAM's UTC
    assert kept(now - timedelta(minutes=5), days=0) is None  # the check turned off


# --- one run at a time ----------------------------------------------------------------------------


def test_a_second_fix_refuses_while_another_holds_the_lock(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    take_lock(aws, "20261202T060000Z-0badc0de", taken=datetime.now(UTC) - timedelta(minutes=5), ttl=timedelta(hours=4))
    before = account_state(aws.url)
    result, requests = fix(pytester, aws, "--fix")
    assert result.ret == 4
    assert (
        "ERROR: --fix: another --fix is changing this account: run 20261202T060000Z-0badc0de on host ci-runner-7 "
        "(pid 4242), taken "
    ) in result.stderr
    assert f"(lock: policy {LOCK}). Wait for it to end" in result.stderr
    assert writes(requests) == []
    assert account_state(aws.url) == before
    assert list(result.report_dir.glob("fix-journal-*.jsonl")) == []
    assert lock_exists(aws)  # still the other run's


def test_two_runs_taking_the_lock_at_once_one_wins(aws: Account) -> None:
    """The lock is IAM's CreatePolicy, which fails when the name exists: of runs taking it at the
    same instant, exactly one holds it."""
    for attempt in range(3):
        barrier = threading.Barrier(4)
        outcomes: list[str] = []

        def take(run_id: str, barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes) -> None:
            barrier.wait()
            try:
                iam_utils.acquire_fix_lock(aws.client("iam"), LOCK, run_id, host="h", pid="1", ttl=timedelta(hours=1))
                outcomes.append(f"won {run_id}")
            except iam_utils.FixLockHeldError:
                outcomes.append("refused")

        threads = [threading.Thread(target=take, args=(f"run-{attempt}-{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        winners = [o for o in outcomes if o.startswith("won")]
        assert len(winners) == 1, outcomes
        holder = iam_utils.read_fix_lock(aws.iam, LOCK)
        assert holder is not None
        assert f"won {holder.run_id}" == winners[0]
        assert iam_utils.release_fix_lock(aws.iam, LOCK, holder.run_id)


def test_an_expired_lock_is_taken_over_journaled_and_released(pytester: pytest.Pytester, aws: Account) -> None:
    take_lock(aws, "dead-run", taken=datetime.now(UTC) - timedelta(hours=5), ttl=timedelta(hours=4))
    aws.role("lambda_role_0123456789")
    aws.trail()  # nothing else failing
    aws.support_role()
    result, _ = fix(pytester, aws, "--fix")
    assert result.ret == 0, result.stdout + result.stderr
    assert "note: took over the expired fix lock of run dead-run on host ci-runner-7 (pid 4242)" in result.stdout
    journal = read_journal(journal_of(result)).entries
    takeover = [e for e in journal if e.action.startswith(f"{LOCK_ACTION} take over the expired lock of run dead-run")]
    assert [e.call.describe() for e in takeover] == [
        f"iam:DeletePolicy PolicyArn={LOCK}",
        "iam:CreatePolicy PolicyName=ams-iam-audit-fix-lock Path=/ams-iam-audit/ PolicyDocument=<str> "
        "Description=<str> Tags=<list>",
    ]
    assert journal[-1].call.describe() == f"iam:DeletePolicy PolicyArn={LOCK}"  # released, last
    assert result.finding("AMS-ROLE-001", "role/lambda_role_0123456789")["outcome"] == "fixed"
    assert not lock_exists(aws)


def test_the_lock_holds_the_run_and_its_expiry(aws: Account) -> None:
    taken = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    take_lock(aws, "run-1", taken=taken, ttl=timedelta(hours=4))
    policy = aws.iam.get_policy(PolicyArn=LOCK)["Policy"]
    assert policy["AttachmentCount"] == 0
    assert "run run-1 on ci-runner-7" in policy["Description"]
    holder = iam_utils.read_fix_lock(aws.iam, LOCK)
    assert holder == iam_utils.FixLock(
        arn=LOCK, run_id="run-1", host="ci-runner-7", pid="4242", taken_at=taken, expires_at=taken + timedelta(hours=4)
    )
    assert not holder.expired(taken + timedelta(hours=3, minutes=59))
    assert holder.expired(taken + timedelta(hours=4))
    assert not iam_utils.release_fix_lock(aws.iam, LOCK, "run-2")  # not ours: left alone
    assert lock_exists(aws)


def test_an_expired_lock_deleted_by_another_run_meanwhile_is_still_taken(aws: Account) -> None:
    """Between reading an expired lock and deleting it, another run released it: the delete finds
    nothing (NoSuchEntity), and this run creates the lock all the same."""
    from ams_iam_audit.iam_utils.changes import Call, Executor

    take_lock(aws, "dead-run", taken=datetime.now(UTC) - timedelta(hours=5), ttl=timedelta(hours=4))

    class Racing(Executor):
        def send(self, client: Any, call: Call) -> Any:
            if call.operation == "delete_policy":
                aws.iam.delete_policy(PolicyArn=LOCK)  # the other run, a moment earlier
            return super().send(client, call)

    ours, taken_over = iam_utils.acquire_fix_lock(
        aws.iam, LOCK, "run-2", host="h", pid="1", ttl=timedelta(hours=4), executor=Racing()
    )
    assert taken_over is not None
    assert taken_over.run_id == "dead-run"
    holder = iam_utils.read_fix_lock(aws.iam, LOCK)
    assert holder is not None
    assert holder.run_id == ours.run_id == "run-2"


def test_the_lock_is_released_after_a_failed_action(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    deny = Deny("json", lambda r: r.target.endswith(".UpdateProject"))
    with _proxy(aws, deny, *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix")
    assert result.ret == 1
    assert result.finding("AMS-ROLE-001", "role/codebuild_role")["outcome"] == "fail"
    assert lock_entries(journal_of(result))[-1] == f"iam:DeletePolicy PolicyArn={LOCK}"
    assert not lock_exists(aws)


def test_the_lock_is_released_when_the_fix_phase_crashes(
    pytester: pytest.Pytester, aws: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ams_iam_audit.pytest_plugin.fixing

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the fix phase broke")

    seed_demo(aws)
    monkeypatch.setattr(ams_iam_audit.pytest_plugin.fixing, "apply_plan", crash)
    result, _ = fix(pytester, aws, "--fix")
    assert result.ret != 0
    assert "the fix phase broke" in result.stdout + result.stderr
    assert not lock_exists(aws)
    assert lock_entries(journal_of(result))[-1] == f"iam:DeletePolicy PolicyArn={LOCK}"
    assert plan_entries(journal_of(result)) == ()


def test_a_dry_run_takes_no_lock(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    take_lock(aws, "busy", taken=datetime.now(UTC), ttl=timedelta(hours=4))  # a fix under way elsewhere
    result, requests = fix(pytester, aws, "--fix-dry-run")
    assert result.ret == 1
    assert result.document is not None
    assert writes(requests) == []
    assert not [r for r in requests if "ams-iam-audit-fix-lock" in r.body + r.path]
    assert iam_utils.read_fix_lock(aws.iam, LOCK) is not None


def test_fix_policy_declares_what_the_lock_and_the_idle_check_need() -> None:
    from ams_iam_audit.remediate.permissions import fix_actions

    assert {
        "iam:CreatePolicy",
        "iam:TagPolicy",
        "iam:DeletePolicy",
        "iam:GetPolicy",
        "iam:GenerateServiceLastAccessedDetails",
        "iam:GetServiceLastAccessedDetails",
    } <= set(fix_actions())


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
