"""AMS-USER-001, AMS-POLICY-001, AMS-ROLE-001/002 against a moto account."""

from __future__ import annotations

import io
import json
import re
import zipfile

from conftest import ACCOUNT, Account, Audit

from ams_iam_audit.aimodelshare import library_template
from ams_iam_audit.demo import add_api_integration

TEMP = "temporaryaccessAImodelsharePolicy"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("main.py", "def handler(e, c):\n    return 1\n")
    return buf.getvalue()


def test_ephemeral_users_and_their_policies(aws: Account, audit: Audit) -> None:
    user_policy = library_template("legacy", "bucketpolicy_custom_s3_policy", bucket="aimodelsharebob")
    attached = aws.policy(f"{TEMP}3f1c2a9edfb711eea1b20242ac120002", document=user_policy)
    aws.policy(f"{TEMP}0a1b2c3dc0de11eeb9d10242ac120005", document=user_policy)  # orphaned
    aws.iam.create_user(UserName="AI_MODELSHARE_2024_03_11_14_22_05")
    key = aws.iam.create_access_key(UserName="AI_MODELSHARE_2024_03_11_14_22_05")["AccessKey"]
    aws.iam.attach_user_policy(UserName="AI_MODELSHARE_2024_03_11_14_22_05", PolicyArn=attached)
    aws.iam.create_user(UserName="renamed-but-holding-it")  # not the name, but the policy gives it away
    aws.iam.attach_user_policy(UserName="renamed-but-holding-it", PolicyArn=attached)
    aws.iam.create_user(UserName="AI_MODELSHARE_admins")  # looks alike, is not a timestamp
    aws.iam.create_user(UserName="alice")
    aws.policy(f"my-{TEMP}-copy", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})

    result = audit("-k", "AMS-USER-001 or AMS-POLICY-001")

    assert result.outcomes("AMS-USER-001") == {
        "user/AI_MODELSHARE_2024_03_11_14_22_05": "fail",
        "user/renamed-but-holding-it": "fail",
        "user/AI_MODELSHARE_admins": "pass",
        "user/alice": "pass",
    }
    assert result.outcomes("AMS-POLICY-001") == {
        f"policy/{TEMP}3f1c2a9edfb711eea1b20242ac120002": "fail",
        f"policy/{TEMP}0a1b2c3dc0de11eeb9d10242ac120005": "fail",
        f"policy/my-{TEMP}-copy": "pass",
    }
    evidence = result.finding("AMS-USER-001", "user/AI_MODELSHARE_2024_03_11_14_22_05")["evidence"]
    (listed,) = evidence["access_keys"]
    assert listed["status"] == "Active"
    assert listed["age_days"] == 0
    assert re.fullmatch(r"AKIA\*+[A-Z0-9]{4}", listed["id"]), listed["id"]
    assert listed["id"][-4:] == key["AccessKeyId"][-4:]
    assert evidence["attached_policies"] == [f"{TEMP}3f1c2a9edfb711eea1b20242ac120002"]
    orphan = result.finding("AMS-POLICY-001", f"policy/{TEMP}0a1b2c3dc0de11eeb9d10242ac120005")
    assert "orphaned" in orphan["message"]
    # Neither the key id nor the secret reaches the results.
    text = (result.report_dir / "findings.json").read_text()
    assert key["AccessKeyId"] not in text
    assert key["SecretAccessKey"] not in text


def test_per_deployment_roles_with_their_consumers(aws: Account, audit: Audit) -> None:
    legacy = aws.policy("lambda_policy_a1b2c3d4e5", document=library_template("legacy", "iam_lambda_policy"))
    role = aws.role("lambda_role_a1b2c3d4e5", None, legacy)
    aws.client("lambda").create_function(
        FunctionName="modfunctiona1b2c3d4e5",
        Runtime="python3.12",
        Role=role,
        Handler="main.handler",
        Code={"ZipFile": _zip()},
    )
    build = aws.role(
        "codebuild_role",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "codebuild.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        },
    )
    aws.client("codebuild").create_project(
        name="image-build",
        serviceRole=build,
        source={"type": "S3", "location": "b/src.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
        },
    )
    invoke = aws.role("lambda_invoke_function_assume_apigw_role_2")
    add_api_integration(
        aws.client("apigateway"),
        "modelapi",
        "m",
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:modfunctiona1b2c3d4e5",
        invoke,
    )
    # A lambda in a second region uses the myService role: found only when that region is audited.
    service_role = aws.role("myService-dev-us-eu-west-1-lambdaRoleQm7Kx2Vb9Np4")
    aws.client("lambda", "eu-west-1").create_function(
        FunctionName="evalfunctionQm7Kx2Vb9Np4",
        Runtime="python3.12",
        Role=service_role,
        Handler="main.handler",
        Code={"ZipFile": _zip()},
    )
    # Weak patterns count only with their partner policy beside them.
    aws.role(
        "proj-lambda-role",
        None,
        aws.policy("proj-lambda-policy", {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}),
    )
    aws.role("analytics-lambda-role")
    aws.policy("other-lambda-policy", {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"})
    aws.role("aimodelshare-codebuild-role")  # the shared replacement itself is not legacy
    aws.policy("aimodelshare-api-lambda-policy", {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"})
    aws.policy("invokelambda", document=library_template("legacy", "json_templates_lambda_policy_2"))

    result = audit("-k", "AMS-ROLE", "--aws-region", "us-east-1", "--aws-region", "eu-west-1")

    assert result.outcomes("AMS-ROLE-001") == {
        "role/lambda_role_a1b2c3d4e5": "fail",
        "role/codebuild_role": "fail",
        "role/lambda_invoke_function_assume_apigw_role_2": "fail",
        "role/myService-dev-us-eu-west-1-lambdaRoleQm7Kx2Vb9Np4": "fail",
        "role/proj-lambda-role": "fail",
        "role/analytics-lambda-role": "pass",
        "role/aimodelshare-codebuild-role": "pass",
    }
    assert result.outcomes("AMS-ROLE-002") == {
        "policy/lambda_policy_a1b2c3d4e5": "fail",
        "policy/proj-lambda-policy": "fail",
        "policy/invokelambda": "fail",
        "policy/other-lambda-policy": "pass",
        "policy/aimodelshare-api-lambda-policy": "pass",
    }

    def consumers(role: str) -> list[tuple[str, str, str]]:
        evidence = result.finding("AMS-ROLE-001", f"role/{role}")["evidence"]
        assert evidence["consumers_complete"] is True
        return [(c["kind"], c["name"], c["region"]) for c in evidence["consumers"]]

    assert consumers("lambda_role_a1b2c3d4e5") == [("lambda", "modfunctiona1b2c3d4e5", "us-east-1")]
    assert consumers("codebuild_role") == [("codebuild", "image-build", "us-east-1")]
    assert consumers("lambda_invoke_function_assume_apigw_role_2") == [("apigateway", "modelapi POST /m", "us-east-1")]
    assert consumers("myService-dev-us-eu-west-1-lambdaRoleQm7Kx2Vb9Np4") == [
        ("lambda", "evalfunctionQm7Kx2Vb9Np4", "eu-west-1")
    ]
    evidence = result.finding("AMS-ROLE-001", "role/codebuild_role")["evidence"]
    assert evidence["replaced_by"] == "aimodelshare-codebuild-role"
    assert evidence["replacement_exists"] is True
    assert result.finding("AMS-ROLE-001", "role/proj-lambda-role")["evidence"]["confirmed_by"] == "proj-lambda-policy"
    assert json.dumps(result.findings).count(ACCOUNT) > 0
