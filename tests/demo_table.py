"""The embedded demo account's outcome table: every failing finding it must produce, and no other
(the seeded problems), and the clean resources that must pass every rule that judges them. One place
for the tests that count the demo's findings (reports, browser, --fix)."""

from __future__ import annotations

TEMP = "temporaryaccessAImodelsharePolicy"
TEMP_POLICIES = [
    f"policy/{TEMP}{h}"
    for h in (
        "0a1b2c3dc0de11eeb9d10242ac120005",
        "3f1c2a9edfb711eea1b20242ac120002",
        "7c9e6679e0a111efb8640242ac120003",
        "b2d4f6a8d4f011efa0f40242ac120004",
    )
]
EPHEMERAL_USERS = [
    f"user/AI_MODELSHARE_{t}" for t in ("2024_03_11_14_22_05", "2024_06_02_09_10_41", "2025_01_17_18_03_59")
]
LEGACY_POLICIES = [
    "policy/codebuild_policy",
    "policy/invokelambda",
    "policy/lambda_policy_a1b2c3d4e5",
    "policy/myService-dev-us-east-1-lambdaPolicyQm7Kx2Vb9Np4",
    "policy/mymodel-codebuild-policies",
]
CODEBUILD_IAM_STAR = [
    "policy/aimodelshare-codebuild-policy",
    "policy/codebuild_policy",
    "policy/mymodel-codebuild-policies",
]

#: Every failing finding the demo account must produce, and no other: the seeded problems.
DEMO_FAILURES = {
    "AMS-USER-001": EPHEMERAL_USERS,
    "AMS-POLICY-001": TEMP_POLICIES,
    "AMS-ROLE-001": [
        "role/codebuild_role",
        "role/lambda_invoke_function_assume_apigw_role_2",
        "role/lambda_role_a1b2c3d4e5",
        "role/myService-dev-us-us-east-1-lambdaRoleQm7Kx2Vb9Np4",
        "role/mymodel-codebuild-role",
    ],
    "AMS-ROLE-002": LEGACY_POLICIES,
    "AMS-S3-001": [
        *TEMP_POLICIES,
        "bucket/aimodelsharealice123456789012useast1",
        "policy/codebuild_policy",
        "policy/lambda_policy_a1b2c3d4e5",
        "policy/myService-dev-us-east-1-lambdaPolicyQm7Kx2Vb9Np4",
        "policy/mymodel-codebuild-policies",
    ],
    "AMS-S3-002": ["policy/aimodelshare-codebuild-policy", "policy/aimodelshare-lambda-exec-policy"],
    "AMS-SHARED-001": ["role/aimodelshare-api-lambda-role", "role/aimodelshare-apigw-invoke-role"],
    "AMS-SHARED-002": ["role/aimodelshare-codebuild-role", "role/aimodelshare-lambda-exec"],
    # the two shared roles the demo has carry no desired-state permissions boundary (issue 16: --fix sets it)
    "AMS-SHARED-004": ["role/aimodelshare-codebuild-role", "role/aimodelshare-lambda-exec"],
    "AMS-PRIV-001": CODEBUILD_IAM_STAR,
    "AMS-PRIV-002": TEMP_POLICIES,
    "AMS-PRIV-003": [
        *TEMP_POLICIES,
        *CODEBUILD_IAM_STAR,
        "policy/aimodelshare-lambda-exec-policy",
        "policy/lambda_policy_a1b2c3d4e5",
        "policy/myService-dev-us-east-1-lambdaPolicyQm7Kx2Vb9Np4",
    ],
    "AMS-LINT-001": TEMP_POLICIES,
    # the temporary-access policy lets each ephemeral user create a role, give it any policy and pass
    # it to a Lambda function it creates and invokes: administrator in one step
    "AMS-PRIV-004": EPHEMERAL_USERS,
    # lambda:InvokeFunction (or lambda:*) on every function: the temporary-access policies, the legacy
    # invokelambda policy and the CodeBuild policies (lambda:* on '*', left open by the refactoring)
    "AMS-PRIV-005": [*TEMP_POLICIES, *CODEBUILD_IAM_STAR, "policy/invokelambda"],
}
#: Clean resources that must pass every rule that judges them.
DEMO_CLEAN = [
    "user/alice",
    "user/ml-platform-ci",
    "role/analytics-lambda-role",
    "policy/data-lake-read",
    "policy/billing-readonly",
    "group/data-scientists/inline/read-data-lake",
    "bucket/corp-data-lake-123456789012",
    "role/aimodelshare-execution-role",
    "policy/aimodelshare-execution-policy",
]

#: How many findings the demo audit fails.
DEMO_FAILING = sum(len(resources) for resources in DEMO_FAILURES.values())
