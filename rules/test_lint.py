"""Policy grammar and semantics, as parliament judges them."""

from __future__ import annotations

from ams_iam_audit import Controls, Evidence, PolicyRef, lint, rule

_THRESHOLD = "MEDIUM"


@rule(
    id="AMS-LINT-001",
    title="AIModelShare policies lint clean",
    severity="medium",
    area="lint",
    scope="identity_policy",
    select=lambda ref: ref.aimodelshare,
    select_description="AIModelShare policies",
    rationale=(
        "parliament finds what AWS accepts silently but does not do what the author meant: actions paired with "
        "resources they cannot apply to (RESOURCE_MISMATCH), malformed ARNs, unknown condition keys and operators. "
        "Such a statement grants nothing, or something else; the library's templates carry several "
        "(e.g. s3:* on a bucket and its objects, ARNs with too few parts). Findings of MEDIUM severity or more count."
    ),
    remediation="Correct each statement parliament names (its detail lists the actions and resources concerned).",
    controls=Controls(nist=("AC-3", "CM-6"), soc2=("CC8.1",)),
)
def test_policies_lint_clean(identity_policy: PolicyRef, evidence: Evidence) -> None:
    issues = [i for i in lint(identity_policy.parsed) if i.at_least(_THRESHOLD)]
    if issues:
        evidence.add(
            policy=identity_policy.label,
            lint=[
                {"issue": i.issue, "title": i.title, "severity": i.severity, "detail": i.detail[:2000]} for i in issues
            ],
        )
    assert not issues, f"{identity_policy.label}: " + ", ".join(sorted({f"{i.issue} ({i.severity})" for i in issues}))
