"""AMS-PRIV-005: AIModelShare policies invoke only the library's own Lambda functions (moto account)."""

from __future__ import annotations

from typing import Any

from conftest import ACCOUNT, Account, Audit

from ams_iam_audit.aimodelshare import shared_role

RULE = "AMS-PRIV-005"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function"


def test_invoke_grants_beyond_the_library_functions_fail(aws: Account, audit: Audit) -> None:
    shared = "invoke"

    def invoke(resource: Any, action: Any = "lambda:InvokeFunction", **extra: Any) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}

    cases: dict[str, list[dict[str, Any]] | dict[str, Any]] = {
        # failing
        "star": [invoke("*")],
        "lambda-star-mixed-case": [invoke("*", "LAMBDA:*")],
        "every-function": [invoke(f"arn:aws:lambda:*:{ACCOUNT}:function:*")],
        "partial-wildcard": [invoke(f"{FN}:model*")],
        "not-resource": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "NotResource": f"{FN}:secret"}],
        "one-of-two": [invoke([f"{FN}:modfunction1", f"{FN}:billing"])],
        "deny-elsewhere": [invoke("*"), {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": f"{FN}:x"}],
        "statement-object": {"Version": "2012-10-17", "Statement": invoke("*")},
        # passing
        "library-functions": [invoke([f"{FN}:modfunction*", f"{FN}:evalfunction*", f"{FN}:redisAccess*"])],
        "qualified": [invoke(f"{FN}:modfunctionabc:prod")],
        "denied-everywhere": [invoke("*"), {"Effect": "Deny", "Action": "lambda:InvokeFunction", "Resource": "*"}],
        "no-invoke": [invoke("*", "lambda:GetFunction")],
    }
    for name, statements in cases.items():
        # each attached to a legacy per-deployment role (lambda_role_<api_id>): the library owns it
        role = f"lambda_role_{name}"
        document = statements if isinstance(statements, dict) else None
        arn = aws.policy(f"{shared}-{name}", *(statements if isinstance(statements, list) else ()), document=document)
        aws.role(role, None, arn)
    aws.policy("team-invoker", invoke("*"))  # a team's own policy: not the library's, not judged
    # the desired state itself passes
    spec = shared_role("aimodelshare-apigw-invoke-role")
    assert spec is not None
    aws.policy(spec.policy_name, document=spec.policy_for(ACCOUNT))

    outcomes = audit("-k", RULE).outcomes(RULE)

    failing = {n for n in cases if outcomes.get(f"policy/{shared}-{n}") == "fail"}
    assert failing == {
        "star",
        "lambda-star-mixed-case",
        "every-function",
        "partial-wildcard",
        "not-resource",
        "one-of-two",
        "deny-elsewhere",
        "statement-object",
    }
    assert {outcomes[f"policy/{shared}-{n}"] for n in cases if n not in failing} == {"pass"}
    assert outcomes[f"policy/{spec.policy_name}"] == "pass"
    assert "policy/team-invoker" not in outcomes
