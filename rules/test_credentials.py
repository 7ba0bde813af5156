"""Credentials: the root user, console passwords and their MFA, access keys and the password policy
(CIS AWS Foundations v3.0 1.4, 1.5, 1.8 to 1.10, 1.12 to 1.14).

The legacy library handed out long-lived access keys; the refactored one assumes a role. Whatever
long-term credentials remain in the account are the ones an attacker reuses: a root key, a console
password without MFA, a key nobody uses or rotates. The facts come from read-only calls: the
credential report (passwords, MFA, keys), GetAccountSummary (the root user) and
GetAccountPasswordPolicy. A user the report does not describe, or a read that was denied, is an error
naming the permission, never a pass.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ams_iam_audit import AccessKey, AccountSummary, Controls, Evidence, Inventory, PasswordPolicy, User, rule

#: CIS 1.12: credentials unused this long are disabled.
UNUSED_DAYS = 45
#: CIS 1.14: access keys are rotated at least this often.
ROTATION_DAYS = 90
#: CIS 1.8: the password policy's minimum length, at least.
MIN_PASSWORD_LENGTH = 14
#: CIS 1.9: how many earlier passwords the policy keeps from reuse (CIS recommends 24, AWS's maximum).
PASSWORD_REUSE = 24


def _days(then: datetime | None, now: datetime) -> int | None:
    return (now - then).days if then is not None else None


def _key_label(key: AccessKey) -> str:
    return key.masked_id or f"key {key.slot}"


def _key_evidence(keys: tuple[AccessKey, ...], now: datetime) -> list[dict[str, Any]]:
    """Each key as an auditor reads it: masked id, status, created and last used (dates and days)."""
    return [
        {
            "key": _key_label(key),
            "status": key.status,
            "created": key.created,
            "age_days": _days(key.created, now),
            "last_used": key.last_used,
            "days_since_last_use": _days(key.last_used, now),
            "last_used_service": key.last_used_service,
        }
        for key in keys
    ]


def _active(user: User) -> list[AccessKey]:
    return [k for k in user.access_keys or () if k.status == "Active"]


def _undated(keys: list[AccessKey], user: User) -> None:
    """A key whose creation date is unknown cannot be judged by age: an error, not a pass."""
    unknown = [_key_label(k) for k in keys if k.created is None]
    if unknown:
        raise LookupError(f"could not be evaluated: {user.name}'s key(s) {', '.join(unknown)} have no creation date")


@rule(
    id="AMS-CRED-001",
    title="The root user has no access keys",
    severity="critical",
    area="credentials",
    scope="root_user",
    rationale=(
        "The root user can do everything in the account, including what no policy can deny, and its access keys "
        "sign API requests with no MFA. A root access key is the one credential whose theft hands over the whole "
        "account, AIModelShare's execution role and every bucket with it. GetAccountSummary's "
        "AccountAccessKeysPresent says whether the root user has one."
    ),
    remediation=(
        "Sign in as the root user, open Security credentials, and deactivate then delete every access key; use IAM "
        "roles (the execution role for AIModelShare) for programmatic access."
    ),
    controls=Controls(cis=("1.4",), nist=("AC-6(9)", "IA-2"), soc2=("CC6.1",)),
)
def test_root_has_no_access_keys(root_user: AccountSummary, evidence: Evidence) -> None:
    evidence.add(root_access_keys_present=root_user.root_access_keys_present, source="GetAccountSummary")
    assert not root_user.root_access_keys_present, "the root user has an access key (AccountAccessKeysPresent is 1)"


@rule(
    id="AMS-CRED-002",
    title="The root user signs in with MFA",
    severity="critical",
    area="credentials",
    scope="root_user",
    rationale=(
        "A root user with a password alone is one phished or reused password away from losing the account: the "
        "root user can close it, change its contact details and undo every control this audit checks. "
        "GetAccountSummary's AccountMFAEnabled says whether the root user has an MFA device."
    ),
    remediation=(
        "Sign in as the root user, open Security credentials, and assign an MFA device (a hardware key for CIS 1.6); "
        "keep the device where two people control it."
    ),
    controls=Controls(cis=("1.5",), nist=("IA-2(1)",), soc2=("CC6.1",)),
)
def test_root_has_mfa(root_user: AccountSummary, evidence: Evidence) -> None:
    evidence.add(root_mfa_enabled=root_user.root_mfa_enabled, source="GetAccountSummary")
    assert root_user.root_mfa_enabled, "the root user has no MFA device (AccountMFAEnabled is 0)"


@rule(
    id="AMS-CRED-003",
    title="Every IAM user with a console password has MFA",
    severity="high",
    area="credentials",
    scope="console_user",
    rationale=(
        "A console password is a long-term credential a person types, reuses and can be phished of; with MFA a "
        "stolen password alone does not sign in. The credential report says, for each user, whether a password is "
        "enabled (password_enabled) and an MFA device is active (mfa_active)."
    ),
    remediation=(
        "Have the user assign an MFA device (aws iam enable-mfa-device, or Security credentials in the console), and "
        "deny everything but managing their own MFA without aws:MultiFactorAuthPresent; or remove the console "
        "password (aws iam delete-login-profile) if the user does not sign in."
    ),
    controls=Controls(cis=("1.10",), nist=("IA-2(1)",), soc2=("CC6.1",)),
)
def test_console_users_have_mfa(console_user: User, evidence: Evidence) -> None:
    evidence.add(password_enabled=True, mfa_active=console_user.mfa_active, source="credential report")
    assert console_user.mfa_active, f"{console_user.name} signs in to the console with a password and no MFA device"


@rule(
    id="AMS-CRED-004",
    title=f"Access keys unused for {UNUSED_DAYS} days are disabled",
    severity="medium",
    area="credentials",
    scope="key_user",
    rationale=(
        "A key nobody uses still works for whoever holds a copy: the legacy library's keys were pasted into "
        "notebooks, CI settings and functions' environments. An active key unused for "
        f"{UNUSED_DAYS} days (or, never used, created {UNUSED_DAYS} days ago) is a credential to disable. Console "
        "passwords unused for as long are not judged here: CIS 1.12 covers them too."
    ),
    remediation=(
        "Deactivate the key (aws iam update-access-key --status Inactive), watch for failures, then delete it; move "
        "the workload that needs AWS to the execution role (sts:AssumeRole)."
    ),
    controls=Controls(cis=("1.12",), nist=("AC-2(3)", "IA-5(1)"), soc2=("CC6.2",)),
)
def test_unused_keys_are_disabled(key_user: User, evidence: Evidence, inventory: Inventory) -> None:
    now = inventory.collected_at
    active = _active(key_user)
    evidence.add(access_keys=_key_evidence(key_user.access_keys or (), now), threshold_days=UNUSED_DAYS)
    stale = []
    for key in active:
        last = key.last_used or key.created
        if last is None:
            raise LookupError(f"could not be evaluated: {key_user.name}'s {_key_label(key)} has no dates")
        if (now - last).days >= UNUSED_DAYS:
            when = f"last used {last.date()}" if key.last_used else f"never used since {last.date()}"
            stale.append(f"{_key_label(key)} ({when}, {(now - last).days} days ago)")
    assert not stale, f"{key_user.name} has active key(s) unused for {UNUSED_DAYS} days or more: {'; '.join(stale)}"


@rule(
    id="AMS-CRED-005",
    title=f"Active access keys are rotated every {ROTATION_DAYS} days",
    severity="medium",
    area="credentials",
    scope="key_user",
    rationale=(
        "The longer a key lives, the more copies of it exist (laptops, CI variables, old images) and the longer a "
        f"leaked copy works. CIS asks that an active key be at most {ROTATION_DAYS} days old; the credential report "
        "gives each key's creation (access_key_N_last_rotated)."
    ),
    remediation=(
        "Create a new key, move its users to it, deactivate then delete the old one; better, replace the key with "
        "the execution role (sts:AssumeRole) so that there is nothing to rotate."
    ),
    controls=Controls(cis=("1.14",), nist=("IA-5(1)",), soc2=("CC6.1",)),
)
def test_keys_are_rotated(key_user: User, evidence: Evidence, inventory: Inventory) -> None:
    now = inventory.collected_at
    active = _active(key_user)
    evidence.add(access_keys=_key_evidence(key_user.access_keys or (), now), threshold_days=ROTATION_DAYS)
    _undated(active, key_user)
    old = [
        f"{_key_label(k)} (created {k.created.date()}, {(now - k.created).days} days ago)"
        for k in active
        if k.created is not None and (now - k.created).days > ROTATION_DAYS
    ]
    assert not old, f"{key_user.name} has active key(s) older than {ROTATION_DAYS} days: {'; '.join(old)}"


@rule(
    id="AMS-CRED-006",
    title="No IAM user has more than one active access key",
    severity="medium",
    area="credentials",
    scope="key_user",
    rationale=(
        "Two active keys are two credentials to guard and rotate for one identity; the second is usually a "
        "rotation left half done, with the old key still working wherever it was copied."
    ),
    remediation=(
        "Find which key is in use (last used date in the evidence), deactivate the other, watch for failures, then "
        "delete it."
    ),
    controls=Controls(cis=("1.13",), nist=("IA-5(1)", "AC-2"), soc2=("CC6.1",)),
)
def test_one_active_key(key_user: User, evidence: Evidence, inventory: Inventory) -> None:
    active = _active(key_user)
    evidence.add(access_keys=_key_evidence(key_user.access_keys or (), inventory.collected_at))
    assert len(active) <= 1, (
        f"{key_user.name} has {len(active)} active access keys: {', '.join(_key_label(k) for k in active)}"
    )


@rule(
    id="AMS-CRED-007",
    title=f"The password policy asks for {MIN_PASSWORD_LENGTH} characters and prevents reuse of {PASSWORD_REUSE}",
    severity="medium",
    area="credentials",
    scope="password_policy",
    rationale=(
        "IAM users' console passwords follow the account's password policy; without one AWS accepts any password of "
        f"8 characters. CIS asks for a minimum length of {MIN_PASSWORD_LENGTH} (1.8) and that the last "
        f"{PASSWORD_REUSE} passwords not be reused (1.9). An account without a policy (GetAccountPasswordPolicy "
        "answers NoSuchEntity) fails."
    ),
    remediation=(
        f"aws iam update-account-password-policy --minimum-password-length {MIN_PASSWORD_LENGTH} "
        f"--password-reuse-prevention {PASSWORD_REUSE} (keep the other settings you rely on: the call replaces the "
        "whole policy)."
    ),
    controls=Controls(cis=("1.8", "1.9"), nist=("IA-5(1)",), soc2=("CC6.1",)),
)
def test_password_policy(password_policy: PasswordPolicy | None, evidence: Evidence) -> None:
    if password_policy is None:
        evidence.add(password_policy=None)
        raise AssertionError(
            f"the account has no password policy (any password of 8 characters is accepted; CIS asks for "
            f"{MIN_PASSWORD_LENGTH} characters and reuse prevention of {PASSWORD_REUSE})"
        )
    evidence.add(password_policy=password_policy)
    problems = []
    length = password_policy.minimum_length
    if length is None or length < MIN_PASSWORD_LENGTH:
        problems.append(f"minimum length is {length or 'not set'} (at least {MIN_PASSWORD_LENGTH})")
    reuse = password_policy.reuse_prevention
    if reuse is None or reuse < PASSWORD_REUSE:
        problems.append(f"reuse prevention is {reuse or 'not set'} (at least {PASSWORD_REUSE})")
    assert not problems, "the password policy is weak: " + "; ".join(problems)
