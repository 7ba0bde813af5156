"""AMS-CRED-001..007 (CIS 1.4, 1.5, 1.8 to 1.10, 1.12 to 1.14) against a moto account: each rule fails
what it must, passes what complies, is not fooled by near misses, and reports a denied or malformed
read as an error naming the permission, never as a pass.

moto cannot give the root user MFA or an access key, nor age an access key, through the API: those
tests set the in-process moto backend's own record (as the ``aws`` fixture does for root MFA)."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aws_proxy import Deny, Fault, Request, is_query, proxy_to, rewrite
from conftest import ACCOUNT, Account, Audit, audit_at, run_audit

ROOT = f"account/{ACCOUNT}"


def _backend() -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[ACCOUNT]["aws"]


def _key(aws: Account, user: str, *, age_days: int = 0, used_days_ago: int | None = None) -> None:
    """A new access key for ``user`` (created if need be), dated ``age_days`` ago, last used
    ``used_days_ago`` (``None``: never)."""
    from moto.iam.models import AccessKeyLastUsed

    if user not in {u["UserName"] for u in aws.iam.list_users()["Users"]}:
        aws.iam.create_user(UserName=user)
    key_id = aws.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
    key = next(k for k in _backend().users[user].access_keys if k.access_key_id == key_id)
    now = datetime.now(UTC).replace(tzinfo=None)
    key.create_date = now - timedelta(days=age_days)
    if used_days_ago is not None:
        key.last_used = AccessKeyLastUsed(now - timedelta(days=used_days_ago), "s3", "us-east-1")


def _console_user(aws: Account, name: str, *, mfa: bool) -> None:
    aws.iam.create_user(UserName=name)
    aws.iam.create_login_profile(UserName=name, Password="Correct-Horse-Battery-1")
    if mfa:
        serial = aws.iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
        aws.iam.enable_mfa_device(
            UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )


# --- the root user -------------------------------------------------------------------------------


def test_root_user_with_mfa_and_no_key_passes_both(audit: Audit) -> None:
    result = audit("-k", "AMS-CRED-001 or AMS-CRED-002")
    assert result.outcomes("AMS-CRED-001") == {ROOT: "pass"}
    assert result.outcomes("AMS-CRED-002") == {ROOT: "pass"}
    assert result.finding("AMS-CRED-002", ROOT)["evidence"]["root_mfa_enabled"] is True
    assert result.ret == 0


def test_root_without_mfa_fails(aws: Account, audit: Audit) -> None:
    _backend().account_summary._account_mfa_enabled = 0
    result = audit("-k", "AMS-CRED-002")
    finding = result.finding("AMS-CRED-002", ROOT)
    assert finding["outcome"] == "fail"
    assert finding["severity"] == "critical"
    assert "AccountMFAEnabled is 0" in finding["message"]


def test_root_access_key_fails(aws: Account, audit: Audit) -> None:
    _backend().account_summary._account_access_keys_present = 1
    result = audit("-k", "AMS-CRED-001")
    finding = result.finding("AMS-CRED-001", ROOT)
    assert finding["outcome"] == "fail"
    assert "root user has an access key" in finding["message"]


def test_root_facts_denied_or_malformed_are_errors(aws: Account, pytester: pytest.Pytester) -> None:
    with proxy_to(aws.url, Deny("query", is_query("GetAccountSummary"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-001 or AMS-CRED-002")
    for rule in ("AMS-CRED-001", "AMS-CRED-002"):
        finding = result.finding(rule, "unreadable-account_summary")
        assert finding["outcome"] == "error"
        assert "iam:GetAccountSummary" in finding["message"]
    # an answer that is not 0 or 1 is not taken for either
    garbled = rewrite(
        is_query("GetAccountSummary"),
        rb"(<key>AccountMFAEnabled</key>\s*<value>)1(</value>)",
        rb"\g<1>yes\g<2>",
    )
    with proxy_to(aws.url, garbled) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-002")
    assert result.outcomes("AMS-CRED-002") == {"unreadable-account_summary": "error"}


# --- console users --------------------------------------------------------------------------------


def test_console_users_without_mfa_fail_and_with_mfa_pass(aws: Account, audit: Audit) -> None:
    _console_user(aws, "bob", mfa=False)
    _console_user(aws, "carol", mfa=True)
    aws.iam.create_user(UserName="ci-bot")  # no password: not a console user, not judged
    _key(aws, "ci-bot")
    result = audit("-k", "AMS-CRED-003")
    assert result.outcomes("AMS-CRED-003") == {"user/bob": "fail", "user/carol": "pass"}
    assert (
        "bob signs in to the console with a password and no MFA"
        in result.finding("AMS-CRED-003", "user/bob")["message"]
    )


def test_mfa_device_removed_is_no_mfa(aws: Account, audit: Audit) -> None:
    _console_user(aws, "dave", mfa=True)
    (device,) = aws.iam.list_mfa_devices(UserName="dave")["MFADevices"]
    aws.iam.deactivate_mfa_device(UserName="dave", SerialNumber=device["SerialNumber"])
    assert audit("-k", "AMS-CRED-003").outcomes("AMS-CRED-003") == {"user/dave": "fail"}


def test_no_console_user_is_not_applicable(aws: Account, audit: Audit) -> None:
    _key(aws, "ci-bot")
    assert audit("-k", "AMS-CRED-003").outcomes("AMS-CRED-003") == {"not-applicable": "not-applicable"}


def test_console_users_unknown_without_the_credential_report(aws: Account, pytester: pytest.Pytester) -> None:
    """Keys fall back to ListAccessKeys, but passwords and MFA are only in the report: an error."""
    _console_user(aws, "bob", mfa=True)
    _key(aws, "bob")
    with proxy_to(aws.url, Deny("query", is_query("GetCredentialReport"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-003 or AMS-CRED-006")
    finding = result.finding("AMS-CRED-003", "unreadable-credential_report")
    assert finding["outcome"] == "error"
    assert "iam:GetCredentialReport" in finding["message"]
    assert result.outcomes("AMS-CRED-006") == {"user/bob": "pass"}  # keys were listed instead


def test_a_user_the_report_leaves_out_is_an_error(aws: Account, pytester: pytest.Pytester) -> None:
    """IAM reuses a report for up to four hours: a user created since is not in it, not a pass."""
    _console_user(aws, "bob", mfa=True)
    _console_user(aws, "erin", mfa=False)

    def without_erin(_: Request, body: bytes) -> bytes:
        def cut(match: re.Match[bytes]) -> bytes:
            text = base64.b64decode(match.group(1)).decode()
            kept = "\n".join(line for line in text.splitlines() if not line.startswith("erin,")) + "\n"
            return b"<Content>" + base64.b64encode(kept.encode()) + b"</Content>"

        return re.sub(rb"<Content>([^<]*)</Content>", cut, body)

    drop_erin = Fault(is_query("GetCredentialReport"), alter=without_erin)
    with proxy_to(aws.url, drop_erin) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-003")
    assert result.outcomes("AMS-CRED-003") == {"user/bob": "pass", "user/erin": "error"}
    assert "credential report does not say" in result.finding("AMS-CRED-003", "user/erin")["message"]


def test_a_garbled_mfa_column_is_not_taken_for_either(aws: Account, pytester: pytest.Pytester) -> None:
    """A report whose mfa_active is neither true nor false is malformed: the console facts are unknown
    (an error naming the report), the keys are listed instead."""
    _console_user(aws, "bob", mfa=True)

    def garble(_: Request, body: bytes) -> bytes:
        def swap(match: re.Match[bytes]) -> bytes:
            rows = base64.b64decode(match.group(1)).decode().splitlines()
            header = rows[0].split(",")
            column = header.index("mfa_active")
            for number, row in enumerate(rows[1:], 1):
                cells = row.split(",")
                cells[column] = "maybe"
                rows[number] = ",".join(cells)
            return b"<Content>" + base64.b64encode(("\n".join(rows) + "\n").encode()) + b"</Content>"

        return re.sub(rb"<Content>([^<]*)</Content>", swap, body)

    with proxy_to(aws.url, Fault(is_query("GetCredentialReport"), alter=garble)) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-003")
    finding = result.finding("AMS-CRED-003", "unreadable-credential_report")
    assert finding["outcome"] == "error"
    assert "mfa_active is not true or false" in finding["message"]


# --- access keys ----------------------------------------------------------------------------------


def test_unused_keys(aws: Account, audit: Audit) -> None:
    _key(aws, "fresh")  # new, never used: fine
    _key(aws, "idle", age_days=200, used_days_ago=60)
    _key(aws, "never", age_days=50)  # never used since it was made 50 days ago
    _key(aws, "busy", age_days=200, used_days_ago=1)
    _key(aws, "edge", age_days=44)  # one day short
    _key(aws, "retired", age_days=300, used_days_ago=300)
    aws.iam.update_access_key(
        UserName="retired",
        AccessKeyId=aws.iam.list_access_keys(UserName="retired")["AccessKeyMetadata"][0]["AccessKeyId"],
        Status="Inactive",
    )
    result = audit("-k", "AMS-CRED-004")
    assert result.outcomes("AMS-CRED-004") == {
        "user/fresh": "pass",
        "user/idle": "fail",
        "user/never": "fail",
        "user/busy": "pass",
        "user/edge": "pass",
        "user/retired": "pass",  # disabled already
    }
    assert "never used since" in result.finding("AMS-CRED-004", "user/never")["message"]
    idle = result.finding("AMS-CRED-004", "user/idle")
    assert "60 days ago" in idle["message"]
    assert idle["evidence"]["access_keys"][0]["days_since_last_use"] == 60


def test_unrotated_keys(aws: Account, audit: Audit) -> None:
    _key(aws, "old", age_days=91, used_days_ago=0)  # in daily use, but never rotated
    _key(aws, "exact", age_days=90)
    _key(aws, "young", age_days=10)
    _key(aws, "old-inactive", age_days=400)
    key_id = aws.iam.list_access_keys(UserName="old-inactive")["AccessKeyMetadata"][0]["AccessKeyId"]
    aws.iam.update_access_key(UserName="old-inactive", AccessKeyId=key_id, Status="Inactive")
    result = audit("-k", "AMS-CRED-005")
    assert result.outcomes("AMS-CRED-005") == {
        "user/old": "fail",
        "user/exact": "pass",
        "user/young": "pass",
        "user/old-inactive": "pass",
    }
    assert "older than 90 days" in result.finding("AMS-CRED-005", "user/old")["message"]


def test_more_than_one_active_key(aws: Account, audit: Audit) -> None:
    _key(aws, "two")
    _key(aws, "two")
    _key(aws, "rotating")
    _key(aws, "rotating")
    first = aws.iam.list_access_keys(UserName="rotating")["AccessKeyMetadata"][0]["AccessKeyId"]
    aws.iam.update_access_key(UserName="rotating", AccessKeyId=first, Status="Inactive")
    _key(aws, "one")
    result = audit("-k", "AMS-CRED-006")
    assert result.outcomes("AMS-CRED-006") == {"user/two": "fail", "user/rotating": "pass", "user/one": "pass"}
    assert "2 active access keys" in result.finding("AMS-CRED-006", "user/two")["message"]


def test_no_key_anywhere_is_not_applicable(aws: Account, audit: Audit) -> None:
    aws.iam.create_user(UserName="keyless")
    result = audit("-k", "AMS-CRED-004 or AMS-CRED-005 or AMS-CRED-006")
    for rule in ("AMS-CRED-004", "AMS-CRED-005", "AMS-CRED-006"):
        assert result.outcomes(rule) == {"not-applicable": "not-applicable"}


def test_keys_unknown_are_errors(aws: Account, pytester: pytest.Pytester) -> None:
    _key(aws, "someone", age_days=200)
    deny = [Deny("query", is_query(action)) for action in ("GetCredentialReport", "ListAccessKeys")]
    with proxy_to(aws.url, *deny) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-005")
    (finding,) = result.findings
    assert finding["outcome"] == "error"
    assert "iam:ListAccessKeys" in finding["message"]


# --- the password policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "expected", "says"),
    [
        ({"MinimumPasswordLength": 14, "PasswordReusePrevention": 24}, "pass", None),
        ({"MinimumPasswordLength": 32, "PasswordReusePrevention": 24, "RequireSymbols": True}, "pass", None),
        ({"MinimumPasswordLength": 13, "PasswordReusePrevention": 24}, "fail", "minimum length is 13"),
        ({"MinimumPasswordLength": 14, "PasswordReusePrevention": 23}, "fail", "reuse prevention is 23"),
        # long passwords that may be reused forever: reuse prevention not set
        ({"MinimumPasswordLength": 64}, "fail", "reuse prevention is not set"),
        (None, "fail", "no password policy"),
    ],
)
def test_password_policy(
    aws: Account, audit: Audit, policy: dict[str, Any] | None, expected: str, says: str | None
) -> None:
    aws.iam.delete_account_password_policy()
    if policy is not None:
        aws.iam.update_account_password_policy(**policy)
    result = audit("-k", "AMS-CRED-007")
    finding = result.finding("AMS-CRED-007", ROOT)
    assert finding["outcome"] == expected, finding["message"]
    if says:
        assert says in finding["message"]


def test_password_policy_denied_is_an_error(aws: Account, pytester: pytest.Pytester) -> None:
    with proxy_to(aws.url, Deny("query", is_query("GetAccountPasswordPolicy"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-CRED-007")
    finding = result.finding("AMS-CRED-007", "unreadable-password_policy")
    assert finding["outcome"] == "error"
    assert "iam:GetAccountPasswordPolicy" in finding["message"]


def test_a_snapshot_judges_the_same(aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path) -> None:
    _console_user(aws, "bob", mfa=False)
    _key(aws, "old", age_days=120)
    aws.iam.delete_account_password_policy()
    snapshot = tmp_path / "snapshot.json"
    live = audit("-k", "AMS-CRED", "--save-snapshot", str(snapshot))
    offline = run_audit(pytester, "--snapshot", str(snapshot), "-k", "AMS-CRED")
    assert offline.outcomes() == live.outcomes()
    assert live.outcomes()["AMS-CRED-003 user/bob"] == "fail"
    assert live.outcomes()["AMS-CRED-005 user/old"] == "fail"
    assert live.outcomes()[f"AMS-CRED-007 {ROOT}"] == "fail"


def test_a_snapshot_from_before_these_reads_is_unknown_not_clean(
    aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snapshot.json"
    audit("-k", "AMS-CRED-007", "--save-snapshot", str(snapshot))
    data = json.loads(snapshot.read_text())
    data["sections"] = [s for s in data["sections"] if s["name"] not in ("account_summary", "password_policy")]
    for key in ("account_summary", "password_policy"):
        data.pop(key)
    snapshot.write_text(json.dumps(data))
    result = run_audit(pytester, "--snapshot", str(snapshot), "-k", "AMS-CRED-001 or AMS-CRED-007")
    assert {f["rule_id"]: f["outcome"] for f in result.findings} == {"AMS-CRED-001": "error", "AMS-CRED-007": "error"}
