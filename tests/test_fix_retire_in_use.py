"""``--fix-retire-in-use``: an ephemeral user whose key is still in use is retired in two runs, its keys
deactivated by the first (journaled, undoable) and deleted with the user by a later one, once they
stayed unused for ``--fix-retire-grace-days``.

Against the test's moto server through the loopback proxy. Moto never records a key's last use; the
tests set it in moto's backend (the server runs in this process), so the code under test reads it
through GetAccessKeyLastUsed as it does from AWS. Moto deletes a user that still has keys or policies;
AWS refuses with DeleteConflict, which :func:`aws_delete_user` emulates so the order is tested too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_proxy import Emulate, Request, proxy_to
from conftest import ACCOUNT, Account, AuditResult, audit_at, run_audit
from moto_gaps import all_gaps
from test_fix import _SESSION, journal_of, plan_entries

from ams_iam_audit import AuditContext, Finding
from ams_iam_audit.aws import AwsClients, caller_identity
from ams_iam_audit.cli import main as cli
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.inventory.model import AccessKey, User
from ams_iam_audit.remediate import FixContext, Journal, apply_plan, make_plan
from ams_iam_audit.remediate.plan import RetireUser
from ams_iam_audit.remediate.users import DEACTIVATED_TAG, decide

USER = "AI_MODELSHARE_2024_06_02_09_10_41"
IDLE_USER = "AI_MODELSHARE_2024_03_11_14_22_05"
TEMPORARY = "temporaryaccessAImodelsharePolicy0a1b2c3d"


def _backend() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT]["aws"]


def key_used(key_id: str, when: datetime, service: str = "s3", region: str = "eu-west-1") -> None:
    """Record in moto's backend that ``key_id`` last signed a request at ``when``."""
    from moto.iam.models import AccessKeyLastUsed

    _backend().access_keys[key_id].last_used = AccessKeyLastUsed(when, service, region)


def seed(aws: Account, *, used_days_ago: float = 1) -> str:
    """Two ephemeral users as the legacy library left them (key, temporary-access policy); ``USER``'s
    key used ``used_days_ago`` days ago in eu-west-1, ``IDLE_USER``'s never. Returns USER's key id."""
    arn = aws.policy(TEMPORARY, {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    key_id = ""
    for name in (USER, IDLE_USER):
        aws.iam.create_user(UserName=name)
        aws.iam.attach_user_policy(UserName=name, PolicyArn=arn)
        key = aws.iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
        if name == USER:
            key_id = key
            key_used(key, datetime.now(UTC) - timedelta(days=used_days_ago))
    return key_id


def keys(aws: Account, user: str) -> dict[str, str]:
    return {k["AccessKeyId"]: k["Status"] for k in aws.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]}


def tags(aws: Account, user: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in aws.iam.list_user_tags(UserName=user)["Tags"]}


def users(aws: Account) -> list[str]:
    return sorted(u["UserName"] for u in aws.iam.list_users()["Users"])


def _error(code: str, message: str) -> bytes:
    return (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>emulated</RequestId></ErrorResponse>"
    ).encode()


def aws_delete_user() -> Emulate:
    """DeleteUser as AWS does it: refused with DeleteConflict while the user still has keys,
    policies, groups or a login profile (moto deletes it anyway)."""

    def left(request: Request) -> bool:
        from urllib.parse import parse_qs

        if "Action=DeleteUser&" not in request.body + "&":
            return False
        name = parse_qs(request.body)["UserName"][0]
        user = _backend().users.get(name)
        return user is not None and bool(
            user.access_keys or user.managed_policies or user.policies or user.password or _groups_of(name)
        )

    return Emulate(left, lambda _: (409, "text/xml", _error("DeleteConflict", "Cannot delete entity")))


def _groups_of(name: str) -> list[str]:
    return [g for g, group in _backend().groups.items() if any(u.name == name for u in group.users)]


def fix(pytester: pytest.Pytester, aws: Account, *args: str) -> tuple[AuditResult, list[Request]]:
    with proxy_to(aws.url, aws_delete_user(), *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix", *args)
    return result, proxy.requests


# --- the evidence names where the key was last used -------------------------------------------------


def test_the_kept_user_says_which_service_and_region_last_used_its_key(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws)
    result, requests = fix(pytester, aws)
    finding = result.finding("AMS-USER-001", f"user/{USER}")
    assert finding["outcome"] == "fail"
    assert "with s3 in eu-west-1, 1 day ago, within --fix-min-idle-days=30" in finding["message"]
    assert "--fix-retire-in-use deactivates its keys now" in finding["message"]
    (shown,) = finding["evidence"]["access_keys"]
    assert (shown["last_used_service"], shown["last_used_region"]) == ("s3", "eu-west-1")
    assert key not in json.dumps(result.document)
    assert keys(aws, USER) == {key: "Active"}  # nothing done to it
    assert not [r for r in requests if r.operation == "UpdateAccessKey" and f"UserName={USER}&" in r.body + "&"]
    assert users(aws) == [USER]  # the idle one is retired as before


# --- first run: deactivate only ---------------------------------------------------------------------


def test_the_first_run_only_deactivates_and_tags(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws)
    before = datetime.now(UTC).replace(microsecond=0)
    result, requests = fix(pytester, aws, "--fix-retire-in-use")
    assert keys(aws, USER) == {key: "Inactive"}
    stamp = datetime.fromisoformat(tags(aws, USER)[DEACTIVATED_TAG].replace("Z", "+00:00"))
    assert before <= stamp <= datetime.now(UTC)
    assert USER in users(aws)
    assert IDLE_USER not in users(aws)
    user_ops = [e.call.describe() for e in plan_entries(journal_of(result)) if e.call.params.get("UserName") == USER]
    assert [d.split(" ")[0] for d in user_ops] == ["iam:UpdateAccessKey", "iam:TagUser"]  # never a delete
    assert key not in json.dumps([e.call.to_json() for e in plan_entries(journal_of(result))])
    finding = result.finding("AMS-USER-001", f"user/{USER}")
    assert finding["outcome"] == "fail"  # the user is still there, and the finding says so
    assert [a["key"] for a in finding["evidence"]["fix"]["actions"]] == [f"deactivate-keys user/{USER}"]
    assert result.finding("AMS-USER-001", f"user/{IDLE_USER}")["outcome"] == "fixed"
    deleted = [r for r in requests if r.operation in ("DeleteAccessKey", "DeleteUser") and f"={USER}&" in r.body + "&"]
    assert deleted == []

    # a second run the same day keeps it: the grace period has not passed
    again, requests = fix(pytester, aws)
    finding = again.finding("AMS-USER-001", f"user/{USER}")
    assert "deleted by a --fix from" in finding["message"]
    assert "--fix-retire-grace-days=7" in finding["message"]
    assert keys(aws, USER) == {key: "Inactive"}
    assert not [r for r in requests if r.operation in ("UpdateAccessKey", "TagUser", "DeleteUser")]


def test_the_dry_run_shows_the_deactivation_and_changes_nothing(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws)
    with proxy_to(aws.url, *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix-dry-run", "--fix-retire-in-use")
    planned = result.finding("AMS-USER-001", f"user/{USER}")["evidence"]["planned_fix"]
    assert planned["actions"] == [f"deactivate-keys user/{USER}"]
    assert [c.split(" ")[0] for c in planned["calls"]] == ["iam:UpdateAccessKey", "iam:TagUser"]
    assert keys(aws, USER) == {key: "Active"}
    assert DEACTIVATED_TAG not in tags(aws, USER)


def test_undo_turns_the_keys_on_again_and_removes_the_tag(
    pytester: pytest.Pytester, aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    key = seed(aws)
    aws.iam.tag_user(UserName=USER, Tags=[{"Key": "team", "Value": "ml"}])
    result, _ = fix(pytester, aws, "--fix-retire-in-use")
    assert keys(aws, USER) == {key: "Inactive"}
    with proxy_to(aws.url, *all_gaps()) as proxy:
        status = cli(["undo", str(journal_of(result)), "--aws-account", ACCOUNT, "--aws-endpoint-url", proxy.url])
    assert status == 0, capsys.readouterr().out
    assert keys(aws, USER) == {key: "Active"}
    assert tags(aws, USER) == {"team": "ml"}


# --- later run: delete once unused ----------------------------------------------------------------


def _deactivated(aws: Account, key: str, days_ago: float) -> datetime:
    when = (datetime.now(UTC) - timedelta(days=days_ago)).replace(microsecond=0)
    aws.iam.update_access_key(UserName=USER, AccessKeyId=key, Status="Inactive")
    aws.iam.tag_user(UserName=USER, Tags=[{"Key": DEACTIVATED_TAG, "Value": when.strftime("%Y-%m-%dT%H:%M:%SZ")}])
    return when


def test_a_later_run_deletes_keys_and_user_in_aws_order(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws, used_days_ago=12)
    _deactivated(aws, key, days_ago=10)
    aws.iam.create_group(GroupName="legacy")
    aws.iam.add_user_to_group(GroupName="legacy", UserName=USER)
    aws.iam.create_login_profile(UserName=USER, Password="Dummy-Passw0rd!")
    aws.iam.put_user_policy(
        UserName=USER,
        PolicyName="inline",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
        ),
    )
    result, requests = fix(pytester, aws)  # no --fix-retire-in-use needed: the tag records the decision
    assert USER not in users(aws)
    finding = result.finding("AMS-USER-001", f"user/{USER}")
    assert finding["outcome"] == "fixed", finding["message"]
    mine = [
        r.operation for r in requests if f"UserName={USER}" in r.body and not r.operation.startswith(("Get", "List"))
    ]
    assert mine[-1] == "DeleteUser"
    for needed in (
        "DeleteLoginProfile",
        "DeleteAccessKey",
        "DeleteUserPolicy",
        "RemoveUserFromGroup",
        "DetachUserPolicy",
    ):
        assert needed in mine[:-1], (needed, mine)
    assert "UpdateAccessKey" not in mine  # already inactive
    assert TEMPORARY not in [p["PolicyName"] for p in aws.iam.list_policies(Scope="Local")["Policies"]]


def test_a_key_turned_on_again_keeps_the_user(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws, used_days_ago=12)
    _deactivated(aws, key, days_ago=10)
    aws.iam.update_access_key(UserName=USER, AccessKeyId=key, Status="Active")
    result, _ = fix(pytester, aws)
    message = result.finding("AMS-USER-001", f"user/{USER}")["message"]
    assert "is active again since, so someone still needs it" in message
    assert keys(aws, USER) == {key: "Active"}

    # --fix-retire-in-use again starts over: deactivated, with a new date
    fix(pytester, aws, "--fix-retire-in-use")
    assert keys(aws, USER) == {key: "Inactive"}
    stamp = datetime.fromisoformat(tags(aws, USER)[DEACTIVATED_TAG].replace("Z", "+00:00"))
    assert datetime.now(UTC) - stamp < timedelta(minutes=5)
    assert USER in users(aws)


def test_a_key_used_after_the_deactivation_keeps_the_user(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws, used_days_ago=12)
    when = _deactivated(aws, key, days_ago=10)
    key_used(key, when + timedelta(days=2))
    result, _ = fix(pytester, aws)
    message = result.finding("AMS-USER-001", f"user/{USER}")["message"]
    assert f"was used at {when + timedelta(days=2):%Y-%m-%dT%H:%M:%SZ} since" in message
    assert USER in users(aws)


def test_the_grace_period_is_the_operators(pytester: pytest.Pytester, aws: Account) -> None:
    key = seed(aws, used_days_ago=12)
    _deactivated(aws, key, days_ago=10)
    fix(pytester, aws, "--fix-retire-grace-days", "11")
    assert USER in users(aws)
    fix(pytester, aws, "--fix-retire-grace-days", "9")
    assert USER not in users(aws)


def test_the_key_is_checked_live_before_anything_is_deleted(pytester: pytest.Pytester, aws: Account) -> None:
    """The plan saw an inactive key; someone turns it on before the plan is applied: refused,
    nothing deleted."""
    key = seed(aws, used_days_ago=12)
    _deactivated(aws, key, days_ago=10)
    audited = audit_at(pytester, aws.url, "-k", "AMS-USER-001")
    findings = [
        Finding.from_json(f) for f in audited.findings if f["outcome"] == "fail" and f["resource"] == f"user/{USER}"
    ]
    with proxy_to(aws.url, aws_delete_user(), *all_gaps()) as proxy:
        clients, identity = AwsClients(_SESSION, proxy.url), caller_identity(_SESSION, proxy.url)
        inventory = collect(clients, identity, ("us-east-1",))
        plan = make_plan(findings, AuditContext(inventory=inventory))
        (action,) = [a for a in plan.actions if isinstance(a, RetireUser)]
        assert action.since is not None
        aws.iam.update_access_key(UserName=USER, AccessKeyId=key, Status="Active")
        with Journal(pytester.path / "j.jsonl", ACCOUNT, identity.arn) as journal:
            results = apply_plan(plan, FixContext(clients, journal, inventory), journal)
    assert results[action.key].status == "refused"
    assert "is active again since ams-iam-audit deactivated it" in str(results[action.key].reason)
    assert keys(aws, USER) == {key: "Active"}
    assert USER in users(aws)
    assert key not in str(results[action.key].reason)


# --- the decision, alone ----------------------------------------------------------------------------


def _user(*keys: AccessKey, tag: str | None = None) -> User:
    return User(
        name=USER,
        arn=f"arn:aws:iam::{ACCOUNT}:user/{USER}",
        path="/",
        created=None,
        groups=(),
        inline_policies=(),
        attached_policies=(),
        tags=((DEACTIVATED_TAG, tag),) if tag is not None else (),
        access_keys=keys,
    )


def _key(status: str, last_used: datetime | None) -> AccessKey:
    return AccessKey("AKIA...WXYZ", None, status, None, last_used, "s3", "eu-west-1")


def test_the_decision_boundaries() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    tag = "2026-11-25T12:00:00Z"  # exactly 7 days before now
    inactive = _key("Inactive", datetime(2026, 11, 24, tzinfo=UTC))

    def step(user: User, in_use: str | None = None, retire: bool = False, grace: int = 7) -> str:
        return decide(user, in_use, now=now, retire_in_use=retire, grace_days=grace).step

    assert step(_user(inactive)) == "retire"  # no tag, not in use: as before
    assert step(_user(inactive), "access key x last used: y") == "keep"
    assert step(_user(inactive), "access key x last used: y", retire=True) == "deactivate"
    assert step(_user(inactive, tag=tag)) == "retire"  # grace exactly over
    assert step(_user(inactive, tag=tag), grace=8) == "keep"
    assert step(_user(inactive, tag="2026-11-25T12:00:01Z")) == "keep"  # a second short
    assert step(_user(inactive, tag="2026-11-25T12:00:00")) == "retire"  # no zone: UTC
    assert step(_user(_key("Active", None), tag=tag)) == "keep"
    assert step(_user(_key("Active", None), tag=tag), retire=True) == "deactivate"
    assert step(_user(_key("Inactive", datetime(2026, 11, 25, 12, 0, 1, tzinfo=UTC)), tag=tag)) == "keep"
    assert step(_user(_key("Inactive", datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)), tag=tag)) == "retire"
    unknown = User(USER, "arn", "/", None, (), (), (), ((DEACTIVATED_TAG, tag),), access_keys=None)
    assert step(unknown) == "keep"  # keys unreadable: never deleted on faith
    assert step(_user(inactive, tag="not a date")) == "retire"  # an unreadable tag is no tag
    assert step(_user(inactive, tag="not a date"), "in use: x", retire=False) == "keep"
    retire = decide(_user(inactive, tag=tag), None, now=now, retire_in_use=False)
    assert retire.since == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_the_options_are_checked(pytester: pytest.Pytester, aws: Account) -> None:
    for args, says in (
        (("--fix-retire-in-use",), "only apply with --fix"),
        (("--fix-retire-grace-days", "3"), "only apply with --fix"),
        (("--fix", "--fix-retire-grace-days", "0"), "less than 1"),
    ):
        result = run_audit(pytester, "--aws-account", ACCOUNT, "--aws-endpoint-url", aws.url, *args)
        assert result.ret == 4
        assert says in result.stderr, result.stderr
