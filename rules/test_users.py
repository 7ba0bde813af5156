"""Users the legacy library created: ``AI_MODELSHARE_<timestamp>`` with a long-lived access key."""

from __future__ import annotations

from ams_iam_audit import Controls, Evidence, Inventory, User, aimodelshare, rule


def _legacy_reasons(user: User) -> list[str]:
    """Why ``user`` is one of the legacy library's ephemeral users (empty: it is not)."""
    reasons = []
    if aimodelshare.is_ephemeral_user(user.name):
        reasons.append("named AI_MODELSHARE_<timestamp> by the legacy library")
    temporary = [p.name for p in user.attached_policies if aimodelshare.is_ephemeral_policy(p.name)]
    if temporary:
        reasons.append("holds " + ", ".join(temporary))
    return reasons


@rule(
    id="AMS-USER-001",
    title="No AIModelShare ephemeral IAM users",
    severity="high",
    area="users",
    scope="user",
    rationale=(
        "The legacy library created an IAM user with a long-lived access key and a broad "
        "temporaryaccessAImodelsharePolicy on every credential setup, and never removed it. The refactored "
        "library uses STS AssumeRole on AIMODELSHARE_EXECUTION_ROLE_ARN instead, so every remaining user is an "
        "orphaned long-term credential that can create roles and pass them."
    ),
    remediation=(
        "Deactivate the user's access keys and watch for failures (key last used), then delete its login "
        "profile, keys, inline policies, group memberships and attached policies, and the user; delete its "
        "temporaryaccessAImodelsharePolicy policies. Point callers at AIMODELSHARE_EXECUTION_ROLE_ARN."
    ),
    controls=Controls(cis=("1.12", "1.14", "1.15"), nist=("AC-2", "AC-2(3)", "IA-5(1)"), soc2=("CC6.1", "CC6.2")),
    judges=lambda user, _audit: bool(_legacy_reasons(user)),
    unjudged="are neither named like the library's users nor hold its temporary-access policy",
)
def test_no_ephemeral_users(user: User, evidence: Evidence, inventory: Inventory) -> None:
    reasons = _legacy_reasons(user)
    if not reasons:
        return
    keys = None
    if user.access_keys is not None:
        keys = [
            {
                "id": key.masked_id or f"key {key.slot} (id not in the credential report)",
                "status": key.status,
                "age_days": (inventory.collected_at - key.created).days if key.created else None,
                "last_used": key.last_used,
                "last_used_service": key.last_used_service,
                "last_used_region": key.last_used_region,
            }
            for key in user.access_keys
        ]
    evidence.add(
        created=user.created,
        access_keys=keys if keys is not None else "unknown: the access-key section could not be read",
        attached_policies=[p.name for p in user.attached_policies],
        inline_policies=[p.name for p in user.inline_policies],
        groups=list(user.groups),
    )
    active = [k for k in user.access_keys or () if k.status == "Active"]
    assert not reasons, (
        f"{user.name} is an AIModelShare ephemeral user ({'; '.join(reasons)}) with {len(active)} active access key(s)"
    )
