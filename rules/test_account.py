"""The account's IAM hygiene beyond AIModelShare's own resources (CIS AWS Foundations v3.0 1.15, 1.17,
1.20): users get their permissions through groups, someone may open AWS Support cases, and IAM Access
Analyzer watches every audited region for resources shared outside the account.
"""

from __future__ import annotations

from typing import Any

from ams_iam_audit import Controls, Evidence, Inventory, RegionAnalyzers, User, rule

#: The AWS managed policy CIS 1.17 asks to be attached to a role.
SUPPORT_POLICY = "AWSSupportAccess"
#: Analyzer types that find resources shared outside the account (an unused-access analyzer does not).
EXTERNAL_ACCESS_TYPES = ("ACCOUNT", "ORGANIZATION")


@rule(
    id="AMS-ACCT-001",
    title="IAM users get their permissions only through groups",
    severity="low",
    area="account",
    scope="user",
    rationale=(
        "Policies given to users one by one drift unreviewed (the legacy library attached one to each user it made); "
        "granted through groups, access is reviewed once per group."
    ),
    remediation="Grant the permissions to a group the user joins, then detach or delete the user's own policies.",
    controls=Controls(cis=("1.15",), nist=("AC-2", "AC-6"), soc2=("CC6.3",)),
    judges=lambda user, _audit: bool(user.attached_policies or user.inline_policies),
    unjudged="hold no policy of their own (managed or inline)",
)
def test_users_get_permissions_through_groups(user: User, evidence: Evidence) -> None:
    attached = [p.name for p in user.attached_policies]
    inline = [p.name for p in user.inline_policies]
    direct = [*(f"managed {name}" for name in attached), *(f"inline {name}" for name in inline)]
    evidence.add(own_policies=direct, **({"groups": list(user.groups)} if user.groups else {}))
    assert not direct, f"{user.name} holds policies of its own, not through a group: {', '.join(direct)}"


@rule(
    id="AMS-ACCT-002",
    title="A support role may open AWS Support cases",
    severity="low",
    area="account",
    scope="account_roles",
    rationale=(
        "In an incident (a leaked key, a compromised function) the people on call must open AWS Support cases "
        f"without the root user: CIS asks for a role with the AWS managed {SUPPORT_POLICY} policy."
    ),
    remediation=f"Create a role the incident responders assume (with MFA) and attach {SUPPORT_POLICY} to it.",
    controls=Controls(cis=("1.17",), nist=("AC-2",), soc2=("CC7.3",)),
)
def test_support_role_exists(account_roles: Inventory, evidence: Evidence) -> None:
    arn = f"arn:{account_roles.partition}:iam::aws:policy/{SUPPORT_POLICY}"
    roles = [r.name for r in account_roles.roles if any(p.arn == arn for p in r.attached_policies)]
    others = [
        f"{kind}/{p.name}"
        for kind, principals in (("user", account_roles.users), ("group", account_roles.groups))
        for p in principals
        if any(a.arn == arn for a in p.attached_policies)
    ]
    evidence.add(support_roles=roles, **({"also_attached_to": others} if others else {}))
    assert roles, f"no role has {SUPPORT_POLICY} attached" + (
        f" (only {', '.join(others)}, which is not a role)" if others else ""
    )


@rule(
    id="AMS-ACCT-003",
    title="IAM Access Analyzer is enabled in every audited region",
    severity="medium",
    area="account",
    scope="access_analyzer",
    rationale=(
        "Access Analyzer reports buckets and roles shared outside the account (an AIModelShare bucket open to "
        "everyone, a role another account may assume). Analyzers are regional; an unused-access analyzer does not "
        "look for external access and does not count."
    ),
    remediation="In each region: aws accessanalyzer create-analyzer --analyzer-name <name> --type ACCOUNT.",
    controls=Controls(cis=("1.20",), nist=("AC-3", "AC-4"), soc2=("CC6.1", "CC7.2")),
)
def test_access_analyzer_enabled(access_analyzer: tuple[RegionAnalyzers, ...], evidence: Evidence) -> None:
    regions: list[dict[str, Any]] = []
    missing: list[str] = []
    unknown: list[str] = []
    for state in access_analyzer:
        if state.unreadable is not None:
            unknown.append(f"{state.region}: {state.unreadable.describe()}")
            regions.append({"region": state.region, "unreadable": state.unreadable.describe()})
            continue
        active = [a.name for a in state.analyzers if a.status == "ACTIVE" and a.type in EXTERNAL_ACCESS_TYPES]
        others = [f"{a.name} ({a.type}, {a.status})" for a in state.analyzers if a.name not in active]
        regions.append(
            {"region": state.region, "active": active or "none", **({"not_counted": others} if others else {})}
        )
        if not active:
            missing.append(state.region + (f" (only {', '.join(others)})" if others else ""))
    evidence.add(regions=regions)
    if missing:
        raise AssertionError(f"no active Access Analyzer analyzer of the account in {', '.join(missing)}")
    if unknown:
        raise LookupError("could not be evaluated: " + "; ".join(unknown))
