"""Several accounts in one pytest run (issue 14), against a moto server holding several accounts:
moto's AssumeRole into ``arn:aws:iam::<id>:role/<name>`` answers credentials that act in that account,
so each member account is seeded, and audited, through its assumed session."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_proxy import Deny, proxy_to
from conftest import ACCOUNT, Account, AuditResult, run_audit

from ams_iam_audit.aws import assume_with, auditor_session_name
from ams_iam_audit.report.merge import merge_files

MEMBER = "111111111111"
UNREACHABLE = "222222222222"
ROLE = "OrganizationAccountAccessRole"


def member_session(url: str, account_id: str, role: str = ROLE) -> boto3.Session:
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
    return assume_with(sts, f"arn:aws:iam::{account_id}:role/{role}", "seed", "us-east-1")


@pytest.fixture
def two_accounts(aws: Account) -> Account:
    """The caller's own account with a user holding an inline policy (it fails there), and a member
    account with a user holding a wildcard grant (it fails there, and only there)."""
    aws.iam.create_user(UserName="caller-side-user")
    read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    aws.iam.put_user_policy(UserName="caller-side-user", PolicyName="read", PolicyDocument=json.dumps(read))
    iam = member_session(aws.url, MEMBER).client("iam", endpoint_url=aws.url)
    iam.create_user(UserName="member-admin")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="member-admin", PolicyName="everything", PolicyDocument=json.dumps(policy))
    return aws


def audit_accounts(pytester: pytest.Pytester, url: str, *args: str, subprocess: bool = False) -> AuditResult:
    return run_audit(pytester, "--aws-endpoint-url", url, *args, subprocess=subprocess)


def case_account(nodeid: str) -> str:
    match = re.search(r"\[(\d{12}):", nodeid)
    assert match, f"no account in {nodeid}"
    return match.group(1)


def test_two_accounts_are_audited_in_one_run_with_the_account_in_every_node_id(
    pytester: pytest.Pytester, two_accounts: Account
) -> None:
    result = audit_accounts(pytester, two_accounts.url, "--aws-account", ACCOUNT, "--aws-account", MEMBER)
    assert result.ret == 1, result.stdout + result.stderr
    document = result.document
    assert document is not None
    assert document["version"] == 2
    assert document["run"]["accounts"] == sorted([ACCOUNT, MEMBER])
    by_account: dict[str, set[str]] = defaultdict(set)
    for finding in document["findings"]:
        assert case_account(finding["nodeid"]) == finding["account_id"]
        by_account[finding["account_id"]].add(finding["resource"])
    assert "user/member-admin" in str(by_account[MEMBER])
    assert "member-admin" not in str(by_account[ACCOUNT])
    assert "caller-side-user" in str(by_account[ACCOUNT])
    assert "caller-side-user" not in str(by_account[MEMBER])
    # each account's own findings.json, as a run of that account alone writes it
    for account in (ACCOUNT, MEMBER):
        own = json.loads((result.report_dir / "accounts" / account / "findings.json").read_text())
        assert own["version"] == 1
        assert own["run"]["account_id"] == account
        assert {f["nodeid"] for f in own["findings"]} == {
            f["nodeid"] for f in document["findings"] if f["account_id"] == account
        }
    # the organization's report is rendered like a single run's
    assert (result.report_dir / "report.html").exists()
    assert (result.report_dir / "results.sarif").exists()
    assert f"[{MEMBER}:" in result.stdout
    assert "2 accounts, 2 audited, 0 unreachable" in result.stdout


def test_dash_k_selects_one_account(pytester: pytest.Pytester, two_accounts: Account) -> None:
    junit = pytester.path / "junit.xml"
    accounts_args = ("--aws-account", ACCOUNT, "--aws-account", MEMBER)
    result = audit_accounts(pytester, two_accounts.url, *accounts_args, "-k", MEMBER, f"--junitxml={junit}")
    assert result.document is not None
    accounts = {case_account(f["nodeid"]) for f in result.document["findings"]}
    assert accounts == {MEMBER}
    assert f'<property name="account_id" value="{MEMBER}"' in junit.read_text()
    assert f'value="{ACCOUNT}"' not in junit.read_text()


def test_an_unreachable_account_is_an_error_case_and_the_others_still_run(
    pytester: pytest.Pytester, two_accounts: Account
) -> None:
    deny = Deny("query", lambda r: r.operation == "AssumeRole" and UNREACHABLE in r.body)
    with proxy_to(two_accounts.url, deny) as proxy:
        result = audit_accounts(
            pytester, proxy.url, "--aws-account", ACCOUNT, "--aws-account", MEMBER, "--aws-account", UNREACHABLE
        )
    assert result.ret == 1
    document = result.document
    assert document is not None
    unreachable = [f for f in document["findings"] if f["account_id"] == UNREACHABLE]
    assert unreachable, "the unreachable account is in the report"
    rules = {r["id"] for r in document["rules"]}
    assert {f["rule_id"] for f in unreachable} == rules  # one error case per rule
    for finding in unreachable:
        assert finding["outcome"] == "error"
        assert finding["nodeid"].endswith(f"[{UNREACHABLE}:unreachable]")
        assert "AccessDenied" in finding["message"]
        assert f"arn:aws:iam::{UNREACHABLE}:role/{ROLE}" in finding["message"]
    # the other accounts were audited all the same
    assert any(f["account_id"] == MEMBER and "member-admin" in f["resource"] for f in document["findings"])
    assert any(f["account_id"] == ACCOUNT and f["outcome"] == "pass" for f in document["findings"])
    assert f"UNREACHABLE account {UNREACHABLE}" in result.stdout


def test_the_role_assumed_and_the_session_name_say_who_audits(pytester: pytest.Pytester, two_accounts: Account) -> None:
    with proxy_to(two_accounts.url) as proxy:
        result = audit_accounts(
            pytester, proxy.url, "--aws-account", ACCOUNT, "--aws-account", MEMBER, "--aws-org-role", "AuditReadOnly"
        )
        assumed = [r.body for r in proxy.requests if r.operation == "AssumeRole"]
    assert result.document is not None
    # the caller's own account is read with the caller's session; the member through the role named
    assert len(assumed) == 1
    assert f"arn%3Aaws%3Aiam%3A%3A{MEMBER}%3Arole%2FAuditReadOnly" in assumed[0]
    assert "RoleSessionName=ams-iam-audit%40" in assumed[0]


def test_session_name_is_what_aws_accepts() -> None:
    assert auditor_session_name("arn:aws:sts::123456789012:assumed-role/ci/run 42!") == "ams-iam-audit@run-42-"
    assert auditor_session_name("arn:aws:iam::123456789012:user/alice") == "ams-iam-audit@alice"
    assert auditor_session_name("arn:aws:iam::123456789012:user/rené") == "ams-iam-audit@ren-"  # ASCII only
    long = auditor_session_name("arn:aws:iam::123456789012:user/" + "x" * 200)
    assert len(long) == 64
    assert re.fullmatch(r"[\w+=,.@-]{2,64}", long)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--fix"], "--fix changes one account at a time"),
        (["--fix-dry-run"], "--fix-dry-run plans for one account at a time"),
        (["--save-snapshot", "s.json"], "--save-snapshot saves one account's inventory"),
        (["--snapshot", "s.json"], "--snapshot replays one account's inventory"),
        (["--aws-execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/x"], "--aws-execution-role-arn names a role"),
        (["--baseline", "b.json"], "--baseline compares one account's earlier findings.json"),
        (["--aws-account", "demo"], "--aws-account demo audits the demo account alone"),
        (["--aws-org-role", "no/slash"], "--aws-org-role: 'no/slash' is not an IAM role name"),
    ],
)
def test_what_a_run_of_several_accounts_refuses(
    pytester: pytest.Pytester, moto_url: str, args: list[str], says: str
) -> None:
    result = audit_accounts(pytester, moto_url, "--aws-account", ACCOUNT, "--aws-account", MEMBER, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1
    assert says in errors[0]
    assert result.document is None


def test_org_role_with_one_account_says_what_to_give_instead(pytester: pytest.Pytester, moto_url: str) -> None:
    result = audit_accounts(pytester, moto_url, "--aws-account", ACCOUNT, "--aws-org-role", "AuditReadOnly")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--aws-org-role applies to a run of several accounts" in result.stderr
    assert "--aws-role-arn" in result.stderr


def test_the_run_report_is_the_merge_of_the_accounts_files(pytester: pytest.Pytester, two_accounts: Account) -> None:
    result = audit_accounts(pytester, two_accounts.url, "--aws-account", ACCOUNT, "--aws-account", MEMBER)
    assert result.document is not None
    files = [result.report_dir / "accounts" / a / "findings.json" for a in (ACCOUNT, MEMBER)]
    merged = merge_files(files, pytester.path / "merged").document

    def comparable(document: dict[str, Any]) -> dict[str, Any]:
        run = {k: v for k, v in document["run"].items() if k not in ("command_line", "merged_at")}
        return {**document, "run": run}

    assert comparable(json.loads(json.dumps(merged))) == comparable(result.document)
    for name in ("summary.md",):
        assert (result.report_dir / name).read_text() == (pytester.path / "merged" / name).read_text()


def test_accounts_file_and_repeated_account_are_audited_once_each(
    pytester: pytest.Pytester, two_accounts: Account
) -> None:
    accounts = pytester.path / "accounts.yml"
    accounts.write_text(f'accounts:\n  - id: "{MEMBER}"\n    regions: [us-east-1]\n')
    result = audit_accounts(pytester, two_accounts.url, "--aws-accounts", str(accounts), "--aws-account", MEMBER)
    assert result.document is not None, result.stdout + result.stderr
    assert result.document["run"]["accounts"] == [MEMBER]
    bad = pytester.path / "bad.txt"
    bad.write_text(f"{MEMBER}\n12345\n")
    refused = audit_accounts(pytester, two_accounts.url, "--aws-accounts", str(bad))
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{bad}:2" in refused.stderr


def test_aws_org_audits_every_active_account(pytester: pytest.Pytester, aws: Account) -> None:
    organizations = aws.client("organizations")
    organizations.create_organization(FeatureSet="ALL")
    created = organizations.create_account(AccountName="ml-prod", Email="ml@example.com")["CreateAccountStatus"]
    member = created["AccountId"]
    result = audit_accounts(pytester, aws.url, "--aws-org")
    assert result.document is not None, result.stdout + result.stderr
    assert result.document["run"]["accounts"] == sorted([ACCOUNT, member])
    assert "active accounts to audit" in result.stdout


def _workers_by_account(stdout: str) -> dict[str, set[str]]:
    workers: dict[str, set[str]] = defaultdict(set)
    for match in re.finditer(r"\[(gw\d+)\][^\n]*?\[(\d{12}):", stdout):
        workers[match.group(2)].add(match.group(1))
    return workers


def test_xdist_gives_each_worker_whole_accounts(pytester: pytest.Pytester, two_accounts: Account) -> None:
    args = ("--aws-account", ACCOUNT, "--aws-account", MEMBER)
    serial = audit_accounts(pytester, two_accounts.url, *args, "-n", "0", subprocess=True)
    parallel = audit_accounts(pytester, two_accounts.url, *args, "-n", "2", "-v", subprocess=True)
    assert serial.ret == parallel.ret == 1
    workers = _workers_by_account(parallel.stdout)
    assert set(workers) == {ACCOUNT, MEMBER}, parallel.stdout[-3000:]
    assert all(len(w) == 1 for w in workers.values()), workers
    assert workers[ACCOUNT] != workers[MEMBER]

    def outcomes(result: AuditResult) -> dict[str, str]:
        return {f["nodeid"]: f["outcome"] for f in result.findings}

    assert outcomes(parallel) == outcomes(serial)


def test_one_account_with_dash_n_runs_in_one_process(pytester: pytest.Pytester, two_accounts: Account) -> None:
    result = audit_accounts(pytester, two_accounts.url, "--aws-account", ACCOUNT, "-n", "2", "-v", subprocess=True)
    assert result.ret == 1
    assert "-n/--dist ignored: one account is audited in one process" in result.stdout
    assert not re.search(r"\[gw\d+\]", result.stdout)
    assert result.document is not None
    assert "cases" in result.document["run"]["timings_seconds"]  # made here, not on xdist workers


def test_report_paths_under_accounts_are_written(pytester: pytest.Pytester, two_accounts: Account) -> None:
    """The closing line points at the organization's report, not an account's."""
    result = audit_accounts(pytester, two_accounts.url, "--aws-account", ACCOUNT, "--aws-account", MEMBER)
    assert Path(result.report_dir / "findings.json").exists()
    assert str(result.report_dir / "accounts" / ACCOUNT) not in result.outcome_lines[-1]


def test_accounts_deselected_by_k_are_incomplete_and_an_unreachable_one_still_fails_the_run(
    pytester: pytest.Pytester, two_accounts: Account
) -> None:
    """``-k <account>`` judges one account: the others are in the report as not judged (never as
    compliant), and an account that could not be audited fails the run though its cases were not
    selected."""
    deny = Deny("query", lambda r: r.operation == "AssumeRole" and UNREACHABLE in r.body)
    with proxy_to(two_accounts.url, deny) as proxy:
        result = audit_accounts(
            pytester,
            proxy.url,
            *("--aws-account", ACCOUNT, "--aws-account", MEMBER, "--aws-account", UNREACHABLE),
            *("-k", f"{ACCOUNT} and AMS-USER-001"),  # no ephemeral user there: passes
        )
    document = result.written
    own = [f for f in document["findings"] if f["account_id"] == ACCOUNT]
    assert own
    assert all(f["outcome"] in ("pass", "not-applicable") for f in own), [f["rule_id"] for f in own]
    assert result.ret == 1  # the unreachable account, though none of its cases ran
    runs = {a["account_id"]: a["run"] for a in document["accounts"]}
    assert runs[ACCOUNT]["complete"] is True
    assert runs[MEMBER]["complete"] is False
    assert "none of its cases selected" in runs[MEMBER]["incomplete_reason"]
    assert runs[UNREACHABLE]["complete"] is False
    assert "could not be audited and its cases were deselected" in runs[UNREACHABLE]["incomplete_reason"]
    assert document["run"]["complete"] is False


def test_each_accounts_waiver_use_is_its_own(pytester: pytest.Pytester, two_accounts: Account) -> None:
    """A waiver matches by rule and resource in any account; each account's file (and the merged
    report, per account) says where it matched there, not the whole run's count in every account."""
    waivers = pytester.path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nrule = "AMS-S3-001"\nresource = "user/caller-side-user/*"\n'
        'justification = "read-only analytics"\nowner = "data@example.com"\nexpires = "2099-01-01"\n'
    )
    args = ("--aws-account", ACCOUNT, "--aws-account", MEMBER, "--waivers", str(waivers))
    result = audit_accounts(pytester, two_accounts.url, *args)
    used = {w["account_id"]: w["matched"] for w in result.written["waivers"]}
    assert used == {ACCOUNT: 1, MEMBER: 0}


def test_a_waiver_for_no_rule_is_refused_before_any_account_is_read(pytester: pytest.Pytester) -> None:
    """With several accounts a typo in a waiver file stops the run before an organization's worth of
    accounts is read: here no endpoint answers, so reading anything would fail first."""
    waivers = pytester.path / "waivers.toml"
    waivers.write_text(
        '[[waiver]]\nrule = "AMS-NOPE-999"\nresource = "*"\n'
        'justification = "typo"\nowner = "x@example.com"\nexpires = "2099-01-01"\n'
    )
    args = ("--aws-account", ACCOUNT, "--aws-account", MEMBER, "--waivers", str(waivers))
    result = pytester.runpytest(*args, "--aws-endpoint-url", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "rule AMS-NOPE-999 is not a rule of this run" in result.stderr.str()


def test_an_earlier_runs_files_of_other_accounts_are_removed(pytester: pytest.Pytester, two_accounts: Account) -> None:
    """``ams-iam-audit merge <dir>/accounts/*/findings.json`` merges this run's accounts only."""
    report_dir = pytester.path / "org-report"
    stale = report_dir / "accounts" / "999999999999"
    stale.mkdir(parents=True)
    (stale / "findings.json").write_text("{}")
    kept = report_dir / "accounts" / "notes"
    kept.mkdir()
    args = ("--aws-account", ACCOUNT, "--aws-account", MEMBER, "--report-dir", str(report_dir))
    audit_accounts(pytester, two_accounts.url, *args)
    assert sorted(p.name for p in (report_dir / "accounts").iterdir()) == sorted([ACCOUNT, MEMBER, "notes"])
