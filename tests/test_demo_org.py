"""The organization demo (``ams_iam_audit.demo_org``): an AWS Organization on a moto server, its
members at different stages of the migration, one unreachable on purpose, one closed.

Most tests share one organization started in a child process (``python -m ams_iam_audit.demo_org``):
moto's state is process-wide, and this process's own moto server (conftest's) is reset by other
tests, which would empty the organization under them. One test starts it in this process, as
``pytest --aws-account demo-org`` does."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from conftest import AuditResult, run_audit

from ams_iam_audit import aimodelshare
from ams_iam_audit.accounts import organization_accounts
from ams_iam_audit.demo import DEMO_ACCOUNT_ID
from ams_iam_audit.demo_org import EXPECTED_IDS, MEMBERS, ORGANIZATION_ROLE, DemoOrganization

#: What the demo server cannot set through its API in any account: root MFA, the AWS managed
#: AWSSupportAccess policy (moto loads no managed policy), an Access Analyzer of that account alone.
SERVER_LIMITS = {"AMS-CRED-002", "AMS-ACCT-002", "AMS-ACCT-003"}


@dataclass(frozen=True)
class RunningOrg:
    """The organization of the child process, as its JSON line describes it."""

    endpoint_url: str
    organization_id: str
    ids: dict[str, str]  # member name -> account id
    unreachable: frozenset[str]
    closed: frozenset[str]
    start_seconds: float

    def management(self) -> boto3.Session:
        return boto3.Session(aws_access_key_id="demo", aws_secret_access_key="demo", region_name="us-east-1")

    def client(self, service: str, session: boto3.Session | None = None) -> Any:
        # a service named at run time: boto3's stubs type only literal names
        return (session or self.management()).client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def assume(self, name: str, role: str = ORGANIZATION_ROLE) -> boto3.Session:
        creds = self.client("sts").assume_role(
            RoleArn=f"arn:aws:iam::{self.ids[name]}:role/{role}", RoleSessionName="test-demo-org"
        )["Credentials"]  # botocore's own ClientError when refused: the tests read AWS's answer
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name="us-east-1",
        )

    def iam(self, name: str) -> Any:
        return self.client("iam", self.assume(name))


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningOrg]:
    log = tmp_path_factory.mktemp("demo-org") / "stderr.txt"
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "ams_iam_audit.demo_org"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=30)
            pytest.fail(f"python -m ams_iam_audit.demo_org printed nothing:\n{log.read_text()}")
        data = json.loads(line)
        yield RunningOrg(
            endpoint_url=data["endpoint_url"],
            organization_id=data["organization_id"],
            ids={name: account_id for account_id, name, _ in data["members"]},
            unreachable=frozenset(data["unreachable"]),
            closed=frozenset(data["closed"]),
            start_seconds=data["start_seconds"],
        )
        proc.communicate(timeout=30)  # closes its standard input: the child serves until then


def test_organization_lists_the_management_account_and_every_member_the_closed_one_suspended(org: RunningOrg) -> None:
    client = org.client("organizations")
    assert client.describe_organization()["Organization"]["Id"] == org.organization_id
    listed = {a["Id"]: (a["Name"], a["Status"]) for a in client.list_accounts()["Accounts"]}
    expected = {org.ids[name]: (name, "SUSPENDED" if name == "retired-sandbox" else "ACTIVE") for name in MEMBERS}
    assert listed == {DEMO_ACCOUNT_ID: ("master", "ACTIVE"), **expected}
    assert org.closed == {org.ids["retired-sandbox"]}
    assert org.unreachable == {org.ids["acquired-startup"]}


def test_ids_are_the_same_at_every_start(org: RunningOrg) -> None:
    """Snapshots and the README name these ids: moto's generator is seeded before anything is made."""
    assert {"organization": org.organization_id, **org.ids} == dict(EXPECTED_IDS)


def test_audit_of_the_organization_targets_the_active_members_and_leaves_the_closed_one_out(org: RunningOrg) -> None:
    found = organization_accounts(org.management(), endpoint_url=org.endpoint_url)
    active = {DEMO_ACCOUNT_ID, *(org.ids[n] for n in MEMBERS if n != "retired-sandbox")}
    assert {t.account_id for t in found.targets} == active
    assert [(i, name, state) for i, name, state in found.left_out] == [
        (org.ids["retired-sandbox"], "retired-sandbox", "SUSPENDED")
    ]
    own = next(t for t in found.targets if t.account_id == DEMO_ACCOUNT_ID)
    assert own.role_name is None  # the management account is read with the caller's own session


@pytest.mark.parametrize("name", ["ml-legacy", "ml-migrating", "ml-migrated", "analytics"])
def test_reachable_members_are_assumed_into_their_own_account(org: RunningOrg, name: str) -> None:
    identity = org.client("sts", org.assume(name)).get_caller_identity()
    assert identity["Account"] == org.ids[name]
    assert identity["Arn"].endswith(f":assumed-role/{ORGANIZATION_ROLE}/test-demo-org")


def test_the_acquired_startup_refuses_the_management_account_with_access_denied(org: RunningOrg) -> None:
    with pytest.raises(ClientError) as refused:
        org.assume("acquired-startup")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert f"arn:aws:iam::{org.ids['acquired-startup']}:role/{ORGANIZATION_ROLE}" in str(refused.value)


def test_assume_role_refuses_a_missing_role_and_a_trust_that_names_a_service(org: RunningOrg) -> None:
    """moto alone hands out credentials for any ARN; the demo's server decides as AWS does."""
    for role in ("ams-iam-audit-readonly", "aimodelshare-codebuild-role"):  # absent; trusts codebuild only
        with pytest.raises(ClientError) as refused:
            org.assume("ml-migrated", role)
        assert refused.value.response["Error"]["Code"] == "AccessDenied", role


def test_an_assumed_member_session_may_assume_a_role_its_account_trusts(org: RunningOrg) -> None:
    """A trust naming the caller's own ARN is honoured (not only account roots)."""
    legacy = org.assume("ml-legacy")
    iam = org.client("iam", legacy)
    caller = org.client("sts", legacy).get_caller_identity()["Arn"]
    role_arn = f"arn:aws:iam::{org.ids['ml-legacy']}:role/{ORGANIZATION_ROLE}"
    allow = {"Effect": "Allow", "Principal": {"AWS": role_arn}, "Action": "sts:AssumeRole"}
    trust = {"Version": "2012-10-17", "Statement": [allow]}
    iam.create_role(RoleName="chained-reader", AssumeRolePolicyDocument=json.dumps(trust))
    try:
        creds = org.client("sts", legacy).assume_role(
            RoleArn=f"arn:aws:iam::{org.ids['ml-legacy']}:role/chained-reader", RoleSessionName="chain"
        )
        assert creds["AssumedRoleUser"]["Arn"].endswith("chained-reader/chain"), caller
    finally:
        iam.delete_role(RoleName="chained-reader")


def test_a_user_named_in_a_trust_policy_may_assume_the_role_and_another_user_may_not(org: RunningOrg) -> None:
    analytics = org.assume("analytics")
    iam = org.client("iam", analytics)
    account = org.ids["analytics"]
    allow = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:user/alice"}, "Action": "sts:AssumeRole"}
    iam.create_role(
        RoleName="alice-only", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]})
    )
    iam.create_user(UserName="bob")
    try:
        for user, allowed in (("alice", True), ("bob", False)):
            key = iam.create_access_key(UserName=user)["AccessKey"]
            session = boto3.Session(
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
                region_name="us-east-1",
            )
            sts = org.client("sts", session)
            role = f"arn:aws:iam::{account}:role/alice-only"
            if allowed:
                assert sts.assume_role(RoleArn=role, RoleSessionName=user)["AssumedRoleUser"]["Arn"].endswith(user)
            else:
                with pytest.raises(ClientError, match=f"user/{user} is not authorized"):
                    sts.assume_role(RoleArn=role, RoleSessionName=user)
            iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    finally:
        iam.delete_role(RoleName="alice-only")
        iam.delete_user(UserName="bob")


def _users(iam: Any) -> list[str]:
    return [u["UserName"] for u in iam.list_users()["Users"]]


def _roles(iam: Any) -> dict[str, Any]:
    return {r["RoleName"]: r for r in iam.list_roles()["Roles"]}


def _legacy_roles(iam: Any) -> list[str]:
    policies = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]
    return sorted(name for name in _roles(iam) if aimodelshare.classify_role(name, policies) is not None)


SHARED = sorted(aimodelshare.shared_role_names())


def test_ml_legacy_holds_the_whole_legacy_footprint(org: RunningOrg) -> None:
    iam = org.iam("ml-legacy")
    assert len([u for u in _users(iam) if aimodelshare.is_ephemeral_user(u)]) == 3
    assert len(_legacy_roles(iam)) == 5
    assert sorted(set(_roles(iam)) & set(SHARED)) == ["aimodelshare-codebuild-role", "aimodelshare-lambda-exec"]


def test_ml_migrating_has_every_shared_role_some_legacy_left_and_a_key_still_in_use(org: RunningOrg) -> None:
    iam = org.iam("ml-migrating")
    roles = _roles(iam)
    assert set(SHARED) <= set(roles)
    assert _legacy_roles(iam) == ["codebuild_role", "lambda_role_a1b2c3d4e5", "mymodel-codebuild-role"]
    (user,) = [u for u in _users(iam) if aimodelshare.is_ephemeral_user(u)]
    (key,) = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    assert "LastUsedDate" in iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]


def test_ml_migrated_has_the_four_shared_roles_in_their_desired_state_and_no_legacy(org: RunningOrg) -> None:
    iam = org.iam("ml-migrated")
    roles = _roles(iam)
    for spec in aimodelshare.shared_roles():
        role = iam.get_role(RoleName=spec.role_name)["Role"]
        assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == spec.boundary_arn("aws", org.ids["ml-migrated"])
        (attached,) = iam.list_attached_role_policies(RoleName=spec.role_name)["AttachedPolicies"]
        assert attached["PolicyName"] == spec.policy_name
    assert set(SHARED) <= set(roles)
    assert _legacy_roles(iam) == []
    assert not [u for u in _users(iam) if aimodelshare.is_ephemeral_user(u)]


def test_analytics_has_no_aimodelshare_at_all(org: RunningOrg) -> None:
    iam = org.iam("analytics")
    roles = _roles(iam)
    assert {"warehouse-etl-glue", "dashboard-refresh"} <= set(roles)
    assert not set(SHARED) & set(roles)
    assert _legacy_roles(iam) == []
    assert not [u for u in _users(iam) if aimodelshare.is_ephemeral_user(u)]


def _audit_member(pytester: pytest.Pytester, org: RunningOrg, name: str) -> AuditResult:
    if name == "master":  # the management account: the caller's own session, as --aws-org reads it
        return run_audit(pytester, "--aws-account", DEMO_ACCOUNT_ID, "--aws-endpoint-url", org.endpoint_url)
    account = org.ids[name]
    return run_audit(
        pytester,
        "--aws-account",
        account,
        "--aws-role-arn",
        f"arn:aws:iam::{account}:role/{ORGANIZATION_ROLE}",
        "--aws-endpoint-url",
        org.endpoint_url,
    )


def _failing(result: AuditResult) -> list[str]:
    return [f["rule_id"] for f in result.findings if f["outcome"] in ("fail", "error")]


def _readme_counts() -> dict[str, int]:
    """account id -> failing findings, from the README's table of the organization demo."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d{12}) \| [^|]+ \| [^|]+ \| (\d+) \|$", readme, flags=re.MULTILINE)
    return {account: int(count) for account, count in rows}


def test_audits_of_the_members_show_what_their_names_say(pytester: pytest.Pytester, org: RunningOrg) -> None:
    audited = ("master", "ml-legacy", "ml-migrating", "ml-migrated", "analytics")
    failing = {name: _failing(_audit_member(pytester, org, name)) for name in audited}
    assert {"AMS-USER-001", "AMS-ROLE-001", "AMS-POLICY-001", "AMS-SECRET-001", "AMS-SHARED-001"} <= set(
        failing["ml-legacy"]
    )
    assert {"AMS-USER-001", "AMS-ROLE-001", "AMS-SHARED-002", "AMS-EXEC-001"} <= set(failing["ml-migrating"])
    assert not {"AMS-SHARED-001", "AMS-SECRET-001"} & set(failing["ml-migrating"])
    # the refactored state and accounts without AIModelShare fail only what the demo server cannot set
    for name in ("master", "ml-migrated", "analytics"):
        assert sorted(failing[name]) == sorted(SERVER_LIMITS), name
    # the README's table says how many findings fail in each
    ids = {"master": DEMO_ACCOUNT_ID, **org.ids}
    assert {ids[name]: len(rules) for name, rules in failing.items()} == _readme_counts()


def test_an_audit_of_the_acquired_startup_stops_on_access_denied(pytester: pytest.Pytester, org: RunningOrg) -> None:
    result = _audit_member(pytester, org, "acquired-startup")
    assert result.ret != 0
    assert "AccessDenied" in result.stdout + result.stderr
    assert result.document is None or not result.findings


def test_starts_in_this_process_fast_with_the_same_ids_and_stops() -> None:
    """As ``--aws-account demo-org`` runs it: in the pytest process. Twice, to show that a second start
    in one process begins clean (moto's state is process-wide) and gets the same ids."""
    seen = []
    for _ in range(2):
        with DemoOrganization() as demo:
            assert demo.start_seconds < 30  # 1.4-3.4 s measured on the project's 2-core machine, shared
            seen.append((demo.organization_id, demo.members))
            assert [m.name for m in demo.members] == list(MEMBERS)
            assert demo.member("ml-migrated").account_id == EXPECTED_IDS["ml-migrated"]
            session = demo.member_session(demo.member("analytics").account_id)
            identity = session.client("sts", endpoint_url=demo.endpoint_url).get_caller_identity()
            assert identity["Account"] == EXPECTED_IDS["analytics"]
            with pytest.raises(ClientError, match="AccessDenied"):
                demo.member_session(next(iter(demo.unreachable)))
            url = str(demo.endpoint_url)
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"{url}/moto-api/", timeout=5)
    assert seen[0] == seen[1]
    with pytest.raises(KeyError, match="no member 'payments'"):
        demo.member("payments")


def test_without_moto_it_names_the_extra_in_one_line(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    (blocked / "moto").mkdir(parents=True)
    (blocked / "moto" / "__init__.py").write_text("raise ImportError('moto is not installed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocked), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "ams_iam_audit.demo_org"],
        input="",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("--aws-account demo-org needs the demo extra")
    assert line.endswith("pip install 'ams-iam-audit[demo]'")


def test_pytest_aws_account_demo_org_audits_the_organization_in_one_run(pytester: pytest.Pytester) -> None:
    """The option end to end, in a child process (the organization empties moto's process-wide
    state, which this process's other moto server shares): every active member audited in one run,
    the unreachable one as error cases, the closed one left out and named, one merged report."""
    result = run_audit(pytester, "--aws-account", "demo-org", "-p", "no:randomly", subprocess=True)
    assert result.ret == 1, result.stdout
    expected = dict(_readme_counts())
    unreachable = EXPECTED_IDS["acquired-startup"]
    counts: dict[str, int] = {}
    for finding in result.findings:
        if finding["outcome"] == "fail":
            counts[finding["account_id"]] = counts.get(finding["account_id"], 0) + 1
    assert counts == expected
    errors = {f["account_id"] for f in result.findings if f["outcome"] == "error"}
    assert errors == {unreachable}
    assert f"[{unreachable}:unreachable]" in result.stdout
    assert f"1 left out (1 suspended: {EXPECTED_IDS['retired-sandbox']})" in result.stdout
    assert sorted(p.name for p in (result.report_dir / "accounts").iterdir()) == sorted([*expected, unreachable])
    assert all(a["run"]["demo"] for a in result.written["accounts"])  # its reports say it is a demo
    closed = EXPECTED_IDS["retired-sandbox"]
    assert closed not in {f["account_id"] for f in result.findings}
    # named in every report as left out, so the report accounts for every account of the organization
    assert result.written["organization"]["left_out"] == [
        {"account_id": closed, "name": "retired-sandbox", "state": "SUSPENDED"}
    ]
    left_out = f"Left out of the audit (not active in the organization): {closed} (retired-sandbox, SUSPENDED)"
    assert left_out in (result.report_dir / "summary.md").read_text()
    assert left_out in re.sub(r"<[^>]+>", "", (result.report_dir / "report.html").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--aws-account", "111111111111"), "demo-org audits the demo organization alone"),
        (("--aws-endpoint-url", "http://127.0.0.1:9"), "demo-org brings its own --aws-endpoint-url"),
        (("--aws-profile", "prod"), "demo-org brings its own --aws-profile"),
        (("--fix",), "several accounts: --fix changes one account at a time"),
    ],
)
def test_demo_org_refuses_what_it_cannot_combine_with(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    result = pytester.runpytest("--aws-account", "demo-org", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
