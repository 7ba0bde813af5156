"""Secrets in plain text in the environments of Lambda functions and CodeBuild projects.

The inventory never holds a variable's value: collection classifies it (``inventory/environment.py``
documents each kind) and keeps the name, the type, the kind and a masked form. This rule judges those.
"""

from __future__ import annotations

from ams_iam_audit import Consumer, Controls, Evidence, Severity, rule

#: How sure each kind is to be a live credential: an AWS key, a session token, a URL's password or a
#: private key is one; a value in a secret-named variable, or random-looking text, probably is.
_SEVERITY = {
    "access_key_id": Severity.CRITICAL,
    "secret_access_key": Severity.CRITICAL,
    "session_token": Severity.CRITICAL,
    "url_credentials": Severity.CRITICAL,
    "private_key": Severity.CRITICAL,
    "named_secret": Severity.HIGH,
    "high_entropy": Severity.HIGH,
}
_WHAT = {
    "access_key_id": "an AWS access key id",
    "secret_access_key": "an AWS secret access key",
    "session_token": "a session token",
    "url_credentials": "a password in a URL",
    "private_key": "a private key",
    "named_secret": "a plain value in a variable named as a secret",
    "high_entropy": "a random-looking value",
}


@rule(
    id="AMS-SECRET-001",
    title="No secrets in plain text in Lambda or CodeBuild environments",
    severity="critical",
    area="secrets",
    scope="workload",
    rationale=(
        "The legacy library handed access keys to its workloads, and the library's refactoring guide lists access "
        "keys stored in environment variables as a problem. A Lambda function's variables are returned in clear to "
        "anyone allowed lambda:GetFunctionConfiguration or lambda:ListFunctions, a CodeBuild project's PLAINTEXT "
        "variables to anyone allowed codebuild:BatchGetProjects, and both are copied into every deployment tool, "
        "template and log that touches them. A finding is a PLAINTEXT variable holding an AWS access key id, a "
        "secret access key or session token shape, a URL with a password, a plain value in a variable named as a "
        "secret (SECRET, PASSWORD, TOKEN, API_KEY..., but not one that only names or points at a secret, such as "
        "..._SECRET_ARN), or random-looking text of 20 characters or more. CodeBuild PARAMETER_STORE and "
        "SECRETS_MANAGER variables are references, resolved at build time, and pass. Values are never kept: the "
        "evidence shows each variable's name, kind and a masked form. A function whose variables the audit may not "
        "decrypt (KMS) is an error, never a pass."
    ),
    remediation=(
        "Delete the variable. For AWS credentials, give the function's or project's role the permissions instead "
        "(the refactored library's shared roles), then deactivate and delete the key, since it must be treated as "
        "exposed. For other secrets, store them in AWS Secrets Manager or SSM Parameter Store (SecureString): "
        "CodeBuild variables of type SECRETS_MANAGER or PARAMETER_STORE, and for Lambda the secret's name in the "
        "variable and a read at start-up; rotate the exposed value."
    ),
    controls=Controls(nist=("IA-5(7)", "SC-28", "SC-12"), soc2=("CC6.1", "CC6.7")),
    judges=lambda workload, _audit: any(v.classification is not None for v in workload.environment or ()),
    unjudged="hold no variable that looks like a secret",
)
def test_no_plaintext_secrets(workload: Consumer, evidence: Evidence) -> None:
    assert workload.environment is not None  # the scope hands only what was read
    found = [v for v in workload.environment if v.classification is not None]
    evidence.add(
        workload=f"{workload.kind} {workload.name} ({workload.region})",
        variables_examined=len(workload.environment),
        references=[v.name for v in workload.environment if v.type != "PLAINTEXT"],
    )
    if not found:
        return
    worst = min((_SEVERITY[v.classification or ""] for v in found), key=lambda s: s.rank)
    evidence.severity = worst.value
    evidence.add(
        secrets=[
            {
                "name": v.name,
                "type": v.type,
                "kind": v.classification,
                "value": v.masked,
                "severity": _SEVERITY[v.classification or ""].value,
            }
            for v in found
        ]
    )
    described = "; ".join(f"{v.name}: {_WHAT[v.classification or '']} ({v.masked})" for v in found)
    assert not found, f"{workload.kind} {workload.name} holds secrets in plain text: {described}"
