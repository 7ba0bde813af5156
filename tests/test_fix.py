"""``--fix`` and ``--fix-dry-run`` on the demo footprint, seeded into the test's moto server, through a
loopback proxy that records every request and supplies the two calls moto lacks (``moto_gaps``)."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_proxy import Deny, proxy_to
from conftest import ACCOUNT, Account, AuditResult, audit_at, run_audit
from demo_table import DEMO_FAILURES, DEMO_FIXED, DEMO_NOT_FIXED
from moto_gaps import all_gaps

from ams_iam_audit import AuditContext, Finding, demo, policy_hash
from ams_iam_audit.aws import AwsClients, caller_identity
from ams_iam_audit.cli import main as cli
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.pytest_plugin.fixing import LOCK_ACTION
from ams_iam_audit.remediate import FixContext, Journal, apply_plan, make_plan
from ams_iam_audit.remediate.journal import read_journal

SHARED = "arn:aws:iam::123456789012:role/aimodelshare-"
#: Operation names that only read: everything else a request can be is a write.
_READS = re.compile(
    r"^(Get|List|Describe|BatchGet|Head|GenerateCredentialReport|GenerateServiceLastAccessedDetails|GetCallerIdentity)"
    r"|^(GET|HEAD) "
)


#: One session for the helpers: boto3 loads each service model once per session, and these helpers
#: run about a hundred times in the kill test.
_SESSION = boto3.Session(region_name="us-east-1")


@functools.cache
def _client(service: str, url: str) -> Any:
    return _SESSION.client(service, endpoint_url=url)  # type: ignore[call-overload]


def seed_demo(aws: Account) -> None:
    """The demo footprint, less what ``--fix`` leaves to a person (``demo_table.DEMO_NOT_FIXED``: the
    key pair in a function's environment, the unguarded bucket, the write-only trail, the account-wide
    CIS settings), settled here as their owners would, so that a fix run on it has nothing left failing
    (the ``aws`` fixture set root MFA, a password policy and an analyzer; a support role here)."""
    demo.seed(_SESSION, aws.url)
    aws.support_role()
    _client("lambda", aws.url).update_function_configuration(
        FunctionName="evalfunctionQm7Kx2Vb9Np4", Environment={"Variables": {}}
    )
    _client("s3", aws.url).put_public_access_block(
        Bucket=demo.USER_BUCKET,
        PublicAccessBlockConfiguration=dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        ),
    )
    _client("cloudtrail", aws.url).put_event_selectors(
        TrailName="corp-audit-trail", EventSelectors=[{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    )


def writes(requests: list[Any]) -> list[str]:
    return [r.operation for r in requests if not _READS.match(r.operation)]


def account_state(url: str) -> dict[str, Any]:
    """What a fix changes, by name (ids such as a REST API's differ between seedings)."""
    iam, lam, codebuild, apigw, s3 = (_client(s, url) for s in ("iam", "lambda", "codebuild", "apigateway", "s3"))
    roles = {
        r["RoleName"]: sorted(
            p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"]
        )
        for r in iam.list_roles()["Roles"]
    }
    policies = {}
    for p in iam.list_policies(Scope="Local")["Policies"]:
        version = iam.get_policy_version(PolicyArn=p["Arn"], VersionId=p["DefaultVersionId"])["PolicyVersion"]
        policies[p["PolicyName"]] = policy_hash(version["Document"])
    integrations = {}
    for api in apigw.get_rest_apis()["items"]:
        stages = apigw.get_stages(restApiId=api["id"])["item"]
        for resource in apigw.get_resources(restApiId=api["id"], embed=["methods"])["items"]:
            for method, detail in (resource.get("resourceMethods") or {}).items():
                credentials = (detail.get("methodIntegration") or {}).get("credentials")
                integrations[f"{api['name']} {method} {resource['path']}"] = credentials
        integrations[f"{api['name']} stage tags"] = sorted(t for s in stages for t in (s.get("tags") or {}))
    buckets: dict[str, str | None] = {}
    for b in s3.list_buckets()["Buckets"]:
        try:
            buckets[b["Name"]] = policy_hash(s3.get_bucket_policy(Bucket=b["Name"])["Policy"])
        except s3.exceptions.ClientError:
            buckets[b["Name"]] = None
    return {
        "roles": roles,
        "policies": policies,
        "users": sorted(u["UserName"] for u in iam.list_users()["Users"]),
        "lambda": {f["FunctionName"]: f["Role"] for f in lam.list_functions()["Functions"]},
        "codebuild": {
            p["name"]: p["serviceRole"]
            for p in codebuild.batch_get_projects(names=codebuild.list_projects()["projects"])["projects"]
        },
        "apigateway": integrations,
        "buckets": buckets,
    }


#: who may assume the demo's execution role after --fix (its seeded trust, a CI user without MFA, fails AMS-EXEC-001)
EXEC_TRUST = ("--fix-execution-role-trust", "arn:aws:iam::123456789012:role/ml-platform-ci-runner")


def fix(pytester: pytest.Pytester, aws: Account, *args: str) -> tuple[AuditResult, list[Any]]:
    fixing = {"--fix", "--fix-dry-run"} & set(args)
    with proxy_to(aws.url, *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, *args, *(EXEC_TRUST if fixing else ()))
    return result, proxy.requests


def journal_of(result: AuditResult) -> Path:
    (path,) = result.report_dir.glob("fix-journal-*.jsonl")
    return path


def plan_entries(path: Path) -> tuple[Any, ...]:
    """The journal's changes made for the plan: all but taking and releasing the account's lock,
    numbered from 1 as a run of the plan alone numbers them."""
    entries = [e for e in read_journal(path).entries if not e.action.startswith(LOCK_ACTION)]
    return tuple(dataclasses.replace(e, seq=number) for number, e in enumerate(entries, 1))


def lock_entries(path: Path) -> list[str]:
    return [e.call.describe() for e in read_journal(path).entries if e.action.startswith(LOCK_ACTION)]


LOCK = "arn:aws:iam::123456789012:policy/ams-iam-audit/ams-iam-audit-fix-lock"


def test_dry_run_prints_every_call_and_makes_none(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    before = account_state(aws.url)
    result, requests = fix(pytester, aws, "--fix-dry-run")
    assert writes(requests) == []
    assert account_state(aws.url) == before
    assert result.ret == 1  # the failures stand
    plan = json.loads((result.report_dir / "fix-plan.json").read_text())
    assert plan["mode"] == "dry-run"
    calls = [c["describe"] for a in plan["actions"] for c in a["calls"]]
    assert "iam:DeleteRole RoleName=codebuild_role" in calls
    assert any(c.startswith("codebuild:UpdateProject [us-east-1] name=aimodelshare-image-build-") for c in calls)
    assert any(c.startswith("apigateway:UpdateIntegration") for c in calls)
    assert "fix plan (dry run: nothing was changed)" in result.stdout
    role = result.finding("AMS-ROLE-001", "role/codebuild_role")
    assert role["outcome"] == "fail"
    assert "iam:DeleteRole RoleName=codebuild_role" in role["evidence"]["planned_fix"]["calls"]


def test_fix_makes_the_demo_footprint_compliant_and_a_second_fix_changes_nothing(
    pytester: pytest.Pytester, aws: Account
) -> None:
    seed_demo(aws)
    dry, _ = fix(pytester, aws, "--fix-dry-run")
    planned = [
        c["describe"] for a in json.loads((dry.report_dir / "fix-plan.json").read_text())["actions"] for c in a["calls"]
    ]

    first, requests = fix(pytester, aws, "--fix")
    assert first.ret == 0, first.stdout
    failing = {
        (rule, res) for rule, resources in DEMO_FAILURES.items() if rule not in DEMO_NOT_FIXED for res in resources
    }
    fixed = {(f["rule_id"], f["resource"]) for f in first.findings if f["outcome"] == "fixed"}
    assert fixed == failing
    assert f"{DEMO_FIXED} fixed" in first.stdout
    assert " failed" not in first.counts_line
    journal = read_journal(journal_of(first))
    assert [e.status for e in journal.entries] == ["done"] * len(journal.entries)
    # what was done is what the dry run said would be done, in the same order, within the lock
    assert [e.call.describe() for e in plan_entries(journal_of(first))] == planned
    assert len(writes(requests)) == len(journal.entries)
    assert lock_entries(journal_of(first)) == [
        "iam:CreatePolicy PolicyName=ams-iam-audit-fix-lock Path=/ams-iam-audit/ PolicyDocument=<str> "
        "Description=<str> Tags=<list>",
        f"iam:DeletePolicy PolicyArn={LOCK}",
    ]

    role = first.finding("AMS-ROLE-001", "role/codebuild_role")
    assert role["message"] == "fixed: role/codebuild_role no longer exists"
    assert role["evidence"]["before"]["consumers"][0]["kind"] == "codebuild"
    assert role["evidence"]["after"] == "deleted"
    assert "iam:DeleteRole RoleName=codebuild_role" in role["evidence"]["fix"]["changes"]
    shared = first.finding("AMS-SHARED-002", "role/aimodelshare-codebuild-role")
    assert shared["evidence"]["after"]["desired_sha256"] == shared["evidence"]["after"]["actual_sha256"]

    state = account_state(aws.url)
    assert set(state["lambda"].values()) <= {SHARED + "lambda-exec", SHARED + "api-lambda-role"}
    assert set(state["codebuild"].values()) == {SHARED + "codebuild-role"}
    assert state["apigateway"] == {
        "modelapi-Qm7Kx2Vb9Np4 POST /m": SHARED + "apigw-invoke-role",
        "modelapi-Qm7Kx2Vb9Np4 stage tags": [],
    }
    assert [u for u in state["users"] if u.startswith("AI_MODELSHARE_")] == []
    journal_text = journal_of(first).read_text()
    assert not re.search(r"AKIA[A-Z0-9]{16}", journal_text)  # key ids masked in the journal too

    plain = audit_at(pytester, aws.url)
    assert plain.ret == 0
    assert [f for f in plain.findings if f["outcome"] == "fail"] == []

    second, requests = fix(pytester, aws, "--fix")
    assert second.ret == 0
    assert writes(requests) == ["CreatePolicy", "DeletePolicy"]  # the lock, taken and released
    assert plan_entries(journal_of(second)) == ()
    assert account_state(aws.url) == state


def test_undo_puts_back_what_the_fix_changed(
    pytester: pytest.Pytester, aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_demo(aws)
    before = account_state(aws.url)
    result, _ = fix(pytester, aws, "--fix")
    assert result.ret == 0
    with proxy_to(aws.url, *all_gaps()) as proxy:
        status = cli(["undo", str(journal_of(result)), "--aws-account", ACCOUNT, "--aws-endpoint-url", proxy.url])
    out = capsys.readouterr().out
    assert status == 0, out
    after = account_state(aws.url)
    assert after["lambda"] == before["lambda"]
    assert after["codebuild"] == before["codebuild"]
    assert after["apigateway"] == before["apigateway"]
    assert after["users"] == before["users"]
    assert after["buckets"] == before["buckets"]
    assert {k: v for k, v in after["roles"].items() if k in before["roles"]} == before["roles"]
    for name, digest in before["policies"].items():
        assert after["policies"][name] == digest, name
    # the users come back without their keys: a secret cannot be restored, and undo says so
    assert "cannot be undone" in out
    assert "access key's secret cannot come back" in out
    assert iam_keys(aws, "AI_MODELSHARE_2024_03_11_14_22_05") == []


def iam_keys(aws: Account, user: str) -> list[Any]:
    return list(aws.iam.list_access_keys(UserName=user)["AccessKeyMetadata"])


def test_undo_refuses_another_accounts_journal(
    tmp_path: Path, aws: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_text(
        json.dumps({"type": "header", "format": "ams-iam-audit/fix-journal", "version": 1, "account": "210987654321"})
        + "\n"
    )
    status = cli(["undo", str(journal), "--aws-account", ACCOUNT, "--aws-endpoint-url", aws.url])
    assert status == 2
    assert "journal of account 210987654321, but the credentials reach 123456789012" in capsys.readouterr().err


#: The kill points are shared out over this many tests, so pytest-xdist can run them side by side.
KILL_SHARDS = 2


def kill_points(entries: tuple[Any, ...]) -> list[tuple[int, str]]:
    """Every change of every distinct kind of action (kind and sequence of calls: the second and
    third ephemeral user are retired by the same calls as the first), alternately killed just
    before the change is sent and just after AWS applied it but before the journal says so."""
    by_action: dict[str, list[Any]] = {}
    for entry in entries:
        by_action.setdefault(entry.action, []).append(entry)
    shapes: set[tuple[str, tuple[str, ...]]] = set()
    seqs: list[int] = []
    for action, changes in by_action.items():
        shape = (action.split(" ")[0], tuple(e.call.operation for e in changes))
        if shape not in shapes:
            shapes.add(shape)
            seqs += [e.seq for e in changes]
    return [(seq, "after" if i % 2 else "before") for i, seq in enumerate(seqs)]


@pytest.mark.parametrize("shard", range(KILL_SHARDS))
def test_a_fix_killed_at_any_step_converges_when_run_again(pytester: pytest.Pytester, aws: Account, shard: int) -> None:
    """Kill ``--fix`` at each step (see :func:`kill_points`), then run ``--fix`` again: the account
    ends exactly as after an uninterrupted fix, every finding fixed, and no consumer ever uses a
    role that is gone."""
    seed_demo(aws)
    findings = _failing_findings(pytester, aws)
    reference, _ = fix(pytester, aws, "--fix")
    end = account_state(aws.url)
    entries = plan_entries(journal_of(reference))  # the killed runs apply the plan without the fix lock
    points = kill_points(entries)
    assert len(entries) > 40
    assert {e.action.split(" ")[0] for e in entries} == {
        "ensure-shared-role",
        "repoint",
        "empty-role",
        "retire-user",
        "delete-policy",
        "delete-role",
        "rewrite-policy",
        "ensure-execution-role",
    }

    for step, when in points[shard::KILL_SHARDS]:
        _reset(aws)
        seed_demo(aws)
        killed = _killed_fix(aws, findings, step, when, pytester.path / f"killed-{step}.jsonl")
        assert len(killed) == step
        assert killed[-1].status == "unknown"  # written down, never confirmed
        _assert_no_consumer_uses_a_missing_role(aws)
        again, _ = fix(pytester, aws, "--fix")
        assert again.ret == 0, f"step {step}: {again.stdout}"
        assert account_state(aws.url) == end, f"killed {when} step {step} ({killed[-1].call.describe()})"


def _failing_findings(pytester: pytest.Pytester, aws: Account) -> list[Finding]:
    result = audit_at(pytester, aws.url)
    return [Finding.from_json(f) for f in result.findings if f["outcome"] == "fail"]


def _reset(aws: Account) -> None:
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(f"{aws.url}/moto-api/reset", method="POST"), timeout=10):
        pass
    aws.cis_account_settings()  # as the aws fixture leaves a fresh account


class _Killed(BaseException):
    """Stands for SIGKILL: nothing of ours catches a BaseException that is not an Exception."""


def _killed_fix(aws: Account, findings: list[Finding], step: int, when: str, journal_path: Path) -> tuple[Any, ...]:
    """The plugin's fix phase (plan from the findings, applied through a journal), stopped dead at
    change ``step``: once it is journaled, ``before`` it is sent or ``after`` AWS applied it. The
    findings of the first audit stand for this seeding's: resources are named alike in every one."""

    class Dying(Journal):
        def _write(self, entry: Any) -> None:
            super()._write(entry)
            if entry.get("type") == "change" and entry["seq"] == step and when == "before":
                raise _Killed

        def send(self, client: Any, call: Any) -> Any:
            result = super().send(client, call)
            if self.seq == step and when == "after":
                raise _Killed
            return result

    with proxy_to(aws.url, *all_gaps()) as proxy:
        clients, identity = AwsClients(_SESSION, proxy.url), caller_identity(_SESSION, proxy.url)
        inventory = collect(clients, identity, ("us-east-1",))
        plan = make_plan(findings, AuditContext(inventory=inventory), execution_trust=EXEC_TRUST[1:])
        with pytest.raises(_Killed), Dying(journal_path, ACCOUNT, identity.arn) as journal:
            apply_plan(plan, FixContext(clients, journal, inventory), journal)
    return read_journal(journal_path).entries


def _assert_no_consumer_uses_a_missing_role(aws: Account) -> None:
    state = account_state(aws.url)
    roles = {f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in state["roles"]}
    used = [*state["lambda"].values(), *state["codebuild"].values()]
    used += [v for k, v in state["apigateway"].items() if not k.endswith("stage tags")]
    assert set(used) <= roles


def test_the_demo_says_what_its_moto_server_could_not_do(pytester: pytest.Pytester) -> None:
    result = run_audit(pytester, "--aws-account", "demo", "--fix", subprocess=True)
    assert result.ret == 1
    role = result.finding("AMS-ROLE-001", "role/codebuild_role")
    assert role["outcome"] == "fail"
    assert "codebuild:UpdateProject is not implemented by this endpoint" in role["message"]
    assert result.finding("AMS-ROLE-001", "role/lambda_role_a1b2c3d4e5")["outcome"] == "fixed"
    assert result.finding("AMS-ROLE-002", "policy/codebuild_policy")["outcome"] == "fail"
    assert "refused  repoint codebuild/aimodelshare-image-build-a1b2c3d4e5" in result.stdout


def test_a_role_whose_consumer_cannot_be_moved_is_kept(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    refuse = Deny("json", lambda r: r.target.endswith(".UpdateProject"))
    with proxy_to(aws.url, refuse, *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix")
    assert result.ret == 1
    role = result.finding("AMS-ROLE-001", "role/codebuild_role")
    assert role["outcome"] == "fail"
    assert role["message"].endswith(
        "(not fixed: empty-role role/codebuild_role skipped: repoint codebuild/aimodelshare-image-build-a1b2c3d4e5 "
        "failed: 403: An error occurred (403) when calling the UpdateProject operation: denied by the test proxy)"
    )
    state = account_state(aws.url)
    assert "codebuild_role" in state["roles"]
    assert "codebuild_policy" in state["policies"]
    assert set(state["codebuild"].values()) == {f"arn:aws:iam::{ACCOUNT}:role/codebuild_role"}
    assert result.finding("AMS-ROLE-001", "role/lambda_role_a1b2c3d4e5")["outcome"] == "fixed"


def test_unread_consumers_keep_every_legacy_role(pytester: pytest.Pytester, aws: Account) -> None:
    seed_demo(aws)
    hide = Deny("json", lambda r: r.method == "GET" and r.path.rstrip("/").endswith("/2015-03-31/functions"))
    with proxy_to(aws.url, hide, *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix")
    for resource in DEMO_FAILURES["AMS-ROLE-001"]:
        finding = result.finding("AMS-ROLE-001", resource)
        assert finding["outcome"] == "fail"
        assert "consumers could not be read everywhere (lambda:us-east-1: unreadable" in finding["message"]
    assert {r.removeprefix("role/") for r in DEMO_FAILURES["AMS-ROLE-001"]} <= set(account_state(aws.url)["roles"])
    assert result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_03_11_14_22_05")["outcome"] == "fixed"


def test_policies_aimodelshare_does_not_own_are_left_alone_unless_asked(
    pytester: pytest.Pytester, aws: Account
) -> None:
    aws.policy("team-s3", {"Sid": "Data", "Effect": "Allow", "Action": ["s3:Get*", "sqs:SendMessage"], "Resource": "*"})
    result = audit_at(pytester, aws.url, "--fix", "-k", "AMS-S3-001")
    finding = result.finding("AMS-S3-001", "policy/team-s3")
    assert finding["outcome"] == "fail"
    assert "not owned by AIModelShare" in finding["message"]
    suggested = finding["evidence"]["suggested_document"]
    assert suggested["Statement"] == [
        {"Sid": "DataNonS3", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": "*"},
        {
            "Sid": "Data",
            "Effect": "Allow",
            "Action": ["s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetObject", "s3:GetObjectVersion"],
            "Resource": ["arn:aws:s3:::aimodelshare*", "arn:aws:s3:::aimodelshare*/*"],
            "Condition": {"StringEquals": {"aws:ResourceAccount": ACCOUNT}},
        },
    ]
    assert aws.iam.get_policy(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/team-s3")["Policy"]["DefaultVersionId"] == "v1"

    widened = audit_at(pytester, aws.url, "--fix", "--fix-unowned", "-k", "AMS-S3-001")
    assert widened.finding("AMS-S3-001", "policy/team-s3")["outcome"] == "fixed"
    version = aws.iam.get_policy_version(PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/team-s3", VersionId="v2")
    assert version["PolicyVersion"]["IsDefaultVersion"]
    assert policy_hash(version["PolicyVersion"]["Document"]) == policy_hash(suggested)


def test_a_statement_that_cannot_be_split_is_not_rewritten(pytester: pytest.Pytester, aws: Account) -> None:
    aws.role("aimodelshare-lambda-exec")
    aws.iam.put_role_policy(
        RoleName="aimodelshare-lambda-exec",
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}
        ),
    )
    result = audit_at(pytester, aws.url, "--fix-dry-run", "-k", "AMS-S3-001")
    finding = result.finding("AMS-S3-001", "role/aimodelshare-lambda-exec/inline/extra")
    assert finding["evidence"]["no_suggestion"].startswith("statement 0 uses NotAction")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fix", "--fix-dry-run"], "--fix and --fix-dry-run exclude each other"),
        (
            ["--fix-unowned"],
            "--fix-unowned, --fix-journal and --fix-min-idle-days only apply with --fix or --fix-dry-run",
        ),
        (["--fix", "--fix-min-idle-days", "-1"], "--fix-min-idle-days: -1 is negative"),
        (["--fix", "-n", "2"], "--fix and --fix-dry-run run in one process, in one order: drop -n/--dist"),
        (["--fix-dry-run", "-x"], "--fix and --fix-dry-run plan from the whole audit: drop -x/--maxfail"),
    ],
)
def test_fix_options_are_checked_before_anything_is_read(
    pytester: pytest.Pytester, aws: Account, args: list[str], message: str
) -> None:
    result = audit_at(pytester, aws.url, *args)
    assert result.ret == 4
    assert message in result.stderr
    assert result.document is None


def test_fix_refuses_a_snapshot_and_an_existing_journal(pytester: pytest.Pytester, tmp_path: Path) -> None:
    taken = tmp_path / "journal.jsonl"
    taken.write_text("")
    snapshot = run_audit(pytester, "--snapshot", str(tmp_path / "s.json"), "--fix")
    assert snapshot.ret == 4
    assert "--fix needs a live account, not --snapshot" in snapshot.stderr
    journal = run_audit(pytester, "--aws-account", "demo", "--fix", "--fix-journal", str(taken))
    assert journal.ret == 4
    assert f"--fix-journal: {taken} exists; a journal is never overwritten" in journal.stderr
