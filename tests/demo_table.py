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
    # the per-policy view of the escalation catalogue: the temporary-access policies (iam:PutRolePolicy on
    # every role; iam:PassRole with lambda:*), and the CodeBuild policies beside their iam:* (AMS-PRIV-001):
    # lambda:* on every function with iam:PassRole to Lambda, and cloudformation:* on every stack
    "AMS-PRIV-002": [*TEMP_POLICIES, *CODEBUILD_IAM_STAR],
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
    # the execution role trusts the CI user (long-lived access key) with no MFA condition: the guide's own
    # step-1 trust; a CI runner should assume it from a role (OIDC), a person only with MFA
    "AMS-EXEC-001": ["role/aimodelshare-execution-role"],
    # the legacy key pair handed to the evaluation function in its environment (AKIA…Y7XQ and its secret)
    "AMS-SECRET-001": ["lambda/us-east-1/evalfunctionQm7Kx2Vb9Np4"],
    # the user's bucket predates S3's default public access block; the account has none either
    "AMS-S3-003": ["bucket/aimodelsharealice123456789012useast1"],
    # the only trail logs write management events: AssumeRole (read-only) is not recorded
    "AMS-TRAIL-001": ["account/123456789012"],
    # CIS 1.15: each ephemeral user holds its temporary-access policy itself, not through a group
    "AMS-ACCT-001": EPHEMERAL_USERS,
    # CIS 1.17, 1.20, 1.5, 1.8/1.9: the account-wide settings of a fresh account (moto's): no support role,
    # no Access Analyzer, no root MFA, no password policy
    "AMS-ACCT-002": ["account/123456789012"],
    "AMS-ACCT-003": ["account/123456789012"],
    "AMS-CRED-002": ["account/123456789012"],
    "AMS-CRED-007": ["account/123456789012"],
}
#: Demo failures ``--fix`` leaves to a person (no automatic fix: rotating a key out of a workload,
#: blocking public access to a bucket that may serve the public, changing what a trail logs, and the
#: account-wide settings CIS asks for are decisions its owners make): the run reports them as not fixed.
DEMO_NOT_FIXED = {
    rule: DEMO_FAILURES[rule]
    for rule in (
        "AMS-SECRET-001",
        "AMS-S3-003",
        "AMS-TRAIL-001",
        "AMS-ACCT-002",
        "AMS-ACCT-003",
        "AMS-CRED-002",
        "AMS-CRED-007",
    )
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
    "policy/aimodelshare-execution-policy",
    "bucket/corp-cloudtrail-logs-123456789012",
    "lambda/us-east-1/modfunctiona1b2c3d4e5",
    "codebuild/us-east-1/aimodelshare-image-build-a1b2c3d4e5",
]

#: How many findings the demo audit fails.
DEMO_FAILING = sum(len(resources) for resources in DEMO_FAILURES.values())
#: How many of them ``--fix`` fixes.
DEMO_FIXED = DEMO_FAILING - sum(len(resources) for resources in DEMO_NOT_FIXED.values())

#: The demo's critical failures: the execution role trusting a CI user without MFA, AMS-PRIV-001 on
#: the three CodeBuild policies, AMS-PRIV-004 on the three ephemeral users, the key pair in a
#: function's environment, the root user without MFA.
DEMO_CRITICAL = [
    ("AMS-EXEC-001", "role/aimodelshare-execution-role"),
    *(("AMS-PRIV-001", p) for p in CODEBUILD_IAM_STAR),
    *(("AMS-PRIV-004", u) for u in EPHEMERAL_USERS),
    ("AMS-SECRET-001", "lambda/us-east-1/evalfunctionQm7Kx2Vb9Np4"),
    ("AMS-CRED-002", "account/123456789012"),
]
