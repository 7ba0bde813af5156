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
        "The root user can do what no policy can deny, and its access keys sign requests without MFA: their theft "
        "hands over the whole account (GetAccountSummary, AccountAccessKeysPresent)."
    ),
    remediation="As the root user, deactivate then delete every root access key; use roles for programmatic access.",
    controls=Controls(cis=("1.4",), nist=("AC-2", "AC-6"), soc2=("CC6.1",)),
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
        "Without MFA the root user is one phished password away from losing the account, and can undo every control "
        "this audit checks (GetAccountSummary, AccountMFAEnabled)."
    ),
    remediation="As the root user, assign an MFA device (a hardware key for CIS 1.6) kept under two people's control.",
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
        "A console password can be phished or reused; with MFA a stolen password alone does not sign in "
        "(credential report: password_enabled, mfa_active)."
    ),
    remediation="Have the user enable an MFA device, or delete the login profile of a user who does not sign in.",
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
        "An unused key still works for whoever holds a copy (the legacy keys sit in notebooks and CI settings). An "
        f"active key unused for {UNUSED_DAYS} days (never used: created as long ago) is disabled. Console passwords "
        "unused as long, also CIS 1.12, are not judged here."
    ),
    remediation="Deactivate the key, watch for failures, then delete it; move its user to the execution role.",
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
        "The older a key, the more copies of it exist and the longer a leaked one works "
        "(credential report: access_key_N_last_rotated)."
    ),
    remediation="Rotate the key (new key, move its users, delete the old one), or replace it with the execution role.",
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
    rationale="A second active key is usually a rotation left half done, the old key still working wherever it is.",
    remediation="Deactivate the key not in use (last use in the evidence), watch for failures, then delete it.",
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
        "Without a password policy (GetAccountPasswordPolicy: NoSuchEntity) IAM accepts any password of 8 "
        f"characters; CIS asks for {MIN_PASSWORD_LENGTH} (1.8) and no reuse of the last {PASSWORD_REUSE} (1.9)."
    ),
    remediation=(
        f"aws iam update-account-password-policy --minimum-password-length {MIN_PASSWORD_LENGTH} "
        f"--password-reuse-prevention {PASSWORD_REUSE} (it replaces the whole policy)."
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
