"""Administrator access and privilege escalation in customer policies."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from ams_iam_audit import (
    AuditContext,
    Controls,
    Enabled,
    Evidence,
    Grant,
    Narrowing,
    PolicyRef,
    Role,
    Severity,
    User,
    action_info,
    aimodelshare,
    allow_grants,
    arn_covers,
    catalogue_services,
    narrowing,
    rule,
)


def _is_admin(grant: Grant) -> bool:
    return grant.on_every_resource and (grant.covers_everything or grant.covers_service("iam"))


@rule(
    id="AMS-PRIV-001",
    title="No administrator access in customer policies",
    severity="critical",
    area="privilege",
    scope="identity_policy",
    rationale=(
        "A policy that allows every action ('*:*'), or every IAM action, on every resource makes its holder an "
        "administrator: iam:* alone lets a principal grant itself anything. The legacy and refactored CodeBuild "
        "policies both grant iam:* on '*', so the shared CodeBuild role can make itself administrator."
    ),
    remediation=(
        "Remove the statement; grant the specific IAM read actions the workload needs (for CodeBuild: none), and "
        "move any role management into a separate, reviewed deployment role."
    ),
    controls=Controls(cis=("1.16",), nist=("AC-6", "AC-6(5)"), soc2=("CC6.3",)),
    judges=lambda document, _audit: document.may_allow(("iam",)),
    unjudged="cannot allow any IAM action",
)
def test_no_administrator_access(identity_policy: PolicyRef, evidence: Evidence) -> None:
    offending = [
        {**g.describe(limit=10), "grants": "every action" if g.covers_everything else "every IAM action"}
        for g in allow_grants(identity_policy.parsed)
        if _is_admin(g)
    ]
    if offending:
        evidence.add(policy=identity_policy.label, statements=offending)
    assert not offending, (
        f"{identity_policy.label} grants administrator access ("
        + "; ".join(f"statement {o['statement_index']}: {o['grants']} on every resource" for o in offending)
        + ")"
    )


def _set_aside(answers: Collection[Narrowing]) -> list[dict[str, Any]]:
    """Each condition entry once: with the reason it did not narrow where an action asked about its
    key, otherwise as not one of the escalating actions' own keys."""
    out: dict[tuple[str, str, tuple[str, ...]], dict[str, Any]] = {}
    for answer in answers:
        for entry, reason in answer.set_aside:
            out[(entry.operator, entry.key, entry.values)] = {**entry.describe(), "reason": reason}
    for answer in answers:
        for entry in answer.unrelated:
            ident = (entry.operator, entry.key, entry.values)
            out.setdefault(ident, {**entry.describe(), "reason": "not one of the escalating actions' own keys"})
    return list(out.values())


def _spelled(action: str) -> str:
    """An action in AWS's spelling (``iam:PassRole``)."""
    info = action_info(action)
    return info.name if info is not None else action


def _statements(policy: PolicyRef, enabled: Collection[Enabled]) -> list[dict[str, Any]]:
    """One entry per statement of ``policy`` that allows an action of an enabled method: the actions
    it allows towards them, the methods, and the conditions set aside."""
    grants = {g.index: g for g in allow_grants(policy.parsed)}
    actions: dict[int, set[str]] = {}
    named: dict[int, list[str]] = {}
    for found in enabled:
        for proof in found.proofs:
            actions.setdefault(proof.statement_index, set()).add(proof.action)
            named.setdefault(proof.statement_index, [])
            if found.method.id not in named[proof.statement_index]:
                named[proof.statement_index].append(found.method.id)
    out = []
    for index in sorted(actions):
        grant = grants[index]
        infos = [info for a in actions[index] if (info := action_info(a)) is not None]
        answers = {info.condition_keys: narrowing(grant.statement, info.condition_keys) for info in infos}
        set_aside = _set_aside(answers.values())
        out.append(
            {
                **grant.describe(actions[index]),
                "escalating_actions": sorted(info.name for info in infos),
                "methods": named[index],
                **({"conditions_set_aside": set_aside} if set_aside else {}),
            }
        )
    return out


@rule(
    id="AMS-PRIV-002",
    title="No privilege escalation paths in customer policies",
    severity="high",
    area="privilege",
    scope="identity_policy",
    rationale=(
        "The per-policy view of AMS-PRIV-004's catalogue of published escalation methods (Rhino Security Labs' 21 "
        "and those found since): a document fails when it alone allows every action of a method, those aimed at the "
        "method's target on every resource of that kind in the account (iam:PutRolePolicy on every role, "
        "iam:CreatePolicyVersion on every policy, lambda:UpdateFunctionCode on every function, iam:PassRole on every "
        "role with the service actions that use it...), or for an inline policy on its own holder. The finding "
        "names the same method ids AMS-PRIV-004 gives for a principal's path. iam:PassRole alone enables nothing: "
        "a service the holder drives must accept the role. A condition narrows only where it certainly keeps the "
        "method's need away: iam:PassedToService naming only other services, iam:PolicyARN naming only policies "
        "that are not administrator, iam:PermissionsBoundary naming a fixed boundary. A wildcard value, a negated "
        "operator, Null, IfExists or ForAllValues limits nothing, and the evidence says which condition was set "
        "aside and why. The legacy temporary-access policy grants iam:CreateRole, iam:PutRolePolicy and "
        "iam:PassRole on arn:aws:iam::*:role/*, with lambda:* on every function."
    ),
    remediation=(
        "Limit permissions-management actions to the named roles the workload manages (for AIModelShare: none "
        "once the shared roles exist), and iam:PassRole to the shared roles' ARNs with an iam:PassedToService "
        "condition (StringEquals, named services)."
    ),
    controls=Controls(nist=("AC-6", "AC-6(10)"), soc2=("CC6.3",)),
    judges=lambda document, _audit: document.may_allow(catalogue_services()),
    unjudged="cannot allow an action of any service an escalation method of the catalogue uses",
)
def test_no_privilege_escalation(identity_policy: PolicyRef, evidence: Evidence, audit: AuditContext) -> None:
    holder = identity_policy.arn if identity_policy.kind == "inline" else None
    enabled = audit.escalation.enabled_by(identity_policy.label, identity_policy.parsed, holder)
    if enabled:
        evidence.add(
            policy=identity_policy.label,
            escalation_methods=[e.method.id for e in enabled],
            methods=[e.describe() for e in enabled],
            statements=_statements(identity_policy, enabled),
        )
    assert not enabled, (
        f"{identity_policy.label} enables privilege escalation: "
        + "; ".join(
            f"{e.method.id} ("
            + ", ".join(f"{_spelled(p.action)} in statement {p.statement_index}" for p in e.proofs)
            + f", on {e.resource})"
            for e in enabled[:6]
        )
        + (f"; and {len(enabled) - 6} more" if len(enabled) > 6 else "")
    )


@rule(
    id="AMS-PRIV-003",
    title="No service-wide wildcards in AIModelShare policies",
    severity="high",
    area="privilege",
    scope="identity_policy",
    select=lambda ref: ref.aimodelshare,
    select_description="AIModelShare policies",
    rationale=(
        "AIModelShare's roles need a handful of actions per service, yet its policies grant whole services on "
        "every resource: lambda:* and apigateway:* (temporary-access policy), cloudformation:*, ecr:* and "
        "lambda:* (CodeBuild), logs:* (Lambda roles). Each is far more than model deployment needs."
    ),
    remediation=(
        "Replace each 'svc:*' on '*' with the actions the library calls, on the ARNs it uses (see the shared roles' "
        "desired state shipped with ams-iam-audit)."
    ),
    controls=Controls(nist=("AC-6",), soc2=("CC6.3",)),
)
def test_no_service_wide_wildcards(identity_policy: PolicyRef, evidence: Evidence) -> None:
    offending = []
    for grant in allow_grants(identity_policy.parsed):
        if not grant.on_every_resource:
            continue
        services = ["*"] if grant.covers_everything else sorted(s for s in grant.services() if grant.covers_service(s))
        if services:
            offending.append({**grant.describe(limit=0), "services": services})
    if offending:
        evidence.add(policy=identity_policy.label, statements=offending)
    assert not offending, f"{identity_policy.label} grants whole services on every resource: " + ", ".join(
        f"{s}:*" for o in offending for s in o["services"]
    )


@rule(
    id="AMS-PRIV-004",
    title="No principal can become administrator",
    severity="critical",
    area="privilege",
    scope="principal",
    rationale=(
        "A user or role that is not an administrator, but can make itself one, is one. Its policies are judged "
        "together (inline, attached and, for a user, its groups'; a Deny in any of them and a permissions boundary "
        "taken into account) against a catalogue of the published escalation methods (Rhino Security Labs' 21 and "
        "those found since: passing a role to a service the principal drives, changing the code of a function that "
        "runs with a stronger role, assuming a role, rewriting a policy it holds...), over the account's real targets, "
        "and across hops: user, then a role it can assume, then one that role can pass. The evidence is the shortest "
        "path, each step with the method, the statement that allows each action and the target. A method whose "
        "actions are held but that has no target in the account today is reported as latent, at medium severity."
    ),
    remediation=(
        "Break the first step of the path: remove the action from the statement named, limit its Resource to what "
        "the principal must manage (never its own policies, users or roles), or add a condition that certainly "
        "narrows it (iam:PassedToService with named services, iam:PolicyARN with named non-administrator policies); "
        "or add a permissions boundary that denies it."
    ),
    controls=Controls(cis=("1.16",), nist=("AC-6", "AC-6(10)", "AC-5"), soc2=("CC6.1", "CC6.3")),
    judges=lambda principal, audit: audit.escalation.verdict(principal.arn).kind != "none",
    unjudged="have no path to administrator and hold no method waiting for a target (nothing left unjudged)",
)
def test_no_principal_can_become_administrator(principal: User | Role, evidence: Evidence, audit: AuditContext) -> None:
    verdict = audit.escalation.verdict(principal.arn)
    evidence.add(**verdict.evidence())
    if verdict.kind == "unknown":
        raise LookupError("could not be evaluated: " + "; ".join(verdict.reasons))
    if verdict.kind == "latent":
        evidence.severity = Severity.MEDIUM.value
    what = {
        "path": lambda: " -> ".join(
            [verdict.path[0].source]
            + [f"[{s.method.id if s.method else 'administrator'}] {s.target}" for s in verdict.path]
        ),
        "latent": lambda: "holds every action of " + ", ".join(m.id for m, _ in verdict.latent) + " (no target today)",
    }
    assert verdict.kind not in what, (
        f"{principal.arn.rsplit(':', 1)[-1]} can become administrator: {what[verdict.kind]()}"
    )


@rule(
    id="AMS-PRIV-005",
    title="AIModelShare policies invoke only the library's own Lambda functions",
    severity="medium",
    area="privilege",
    scope="identity_policy",
    select=lambda ref: ref.aimodelshare,
    select_description="AIModelShare policies",
    rationale=(
        "The library's API Gateway invoke role only needs to call its model functions (modfunction*, "
        "evalfunction*, redisAccess*), yet the legacy 'invokelambda' policy and the refactored template grant "
        "lambda:InvokeFunction on '*': whoever holds the role, or can pass it to API Gateway, can run any function "
        "of the account, with that function's role. What a Deny in the same document removes is not counted."
    ),
    remediation=(
        "Grant lambda:InvokeFunction on arn:aws:lambda:*:<account>:function:modfunction*, ...:evalfunction* and "
        "...:redisAccess* (the shared invoke role's desired policy, shipped with ams-iam-audit)."
    ),
    controls=Controls(nist=("AC-6", "AC-3"), soc2=("CC6.3",)),
    judges=lambda document, _audit: document.may_allow(("lambda",)),
    unjudged="cannot allow a Lambda action",
)
def test_invoke_only_library_functions(identity_policy: PolicyRef, evidence: Evidence, audit: AuditContext) -> None:
    inv = audit.inventory
    library = [
        a.replace("arn:aws:", f"arn:{inv.partition}:", 1) for a in aimodelshare.library_function_arns(inv.account_id)
    ]
    offending = []
    for grant in allow_grants(identity_policy.parsed):
        if "lambda:invokefunction" not in grant.actions:
            continue
        if grant.resource_is_negated:
            beyond = [f"every function but {', '.join(grant.statement.not_resources or ())}"]
        else:
            beyond = [r for r in grant.resources if not any(arn_covers(lib, r) for lib in library)]
        if beyond:
            offending.append({**grant.describe(["lambda:invokefunction"]), "beyond_library_functions": beyond})
    if offending:
        evidence.add(policy=identity_policy.label, library_functions=library, statements=offending)
    assert not offending, (
        f"{identity_policy.label} lets its holder invoke functions other than the library's: "
        + "; ".join(f"statement {o['statement_index']}: {', '.join(o['beyond_library_functions'])}" for o in offending)
    )
