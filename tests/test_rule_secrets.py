"""AMS-SECRET-001 against a moto account: secrets in Lambda and CodeBuild environments are found, their
values never leave the process (findings, reports, JUnit, terminal, snapshot), references and
look-alikes pass, and what could not be read is an error naming the permission."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aws_proxy import Deny, is_target, json_answer, lambda_list_functions, proxy_to
from conftest import Account, Audit, audit_at, run_audit

from ams_iam_audit.inventory.environment import classify, high_entropy, secret_named

if TYPE_CHECKING:
    from mypy_boto3_codebuild.type_defs import EnvironmentVariableTypeDef


# Fake credentials, shaped like AWS's (never real): the test fails if any of them leaks.
KEY_ID = "AKIAZZFAKE00KEY0WXYZ"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzFAKE0KEY"
TEMP_KEY_ID = "ASIAZZFAKE00TEMP0ABC"
PASSWORD = "correct-horse-battery"
GITHUB = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
URL_PASSWORD = "s3cr3tPassw0rd"
LEAKS = (KEY_ID, SECRET, TEMP_KEY_ID, PASSWORD, GITHUB, URL_PASSWORD)


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("main.py", "def handler(event, context):\n    return {}\n")
    return buf.getvalue()


def _function(aws: Account, name: str, variables: dict[str, str] | None) -> None:
    role = aws.role(f"{name}-role")
    extra: dict[str, Any] = {"Environment": {"Variables": variables}} if variables is not None else {}
    aws.client("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="main.handler", Code={"ZipFile": _zip()}, **extra
    )


def _project(aws: Account, name: str, variables: list[EnvironmentVariableTypeDef]) -> None:
    role = aws.role(f"{name}-role")
    aws.client("codebuild").create_project(
        name=name,
        serviceRole=role,
        source={"type": "S3", "location": "bucket/source.zip"},
        artifacts={"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "environmentVariables": variables,
        },
    )


def _seed(aws: Account) -> None:
    # failing
    # Lambda reserves AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: keys are handed over under other names
    _function(aws, "legacy-keys", {"AIMS_ACCESS_KEY_ID": KEY_ID, "AIMS_SECRET_ACCESS_KEY": SECRET, "LOG": "INFO"})
    _function(aws, "temp-key-in-text", {"CONFIG": f"region=us-east-1;key={TEMP_KEY_ID};"})
    _function(aws, "db-password", {"DB_PASSWORD": PASSWORD})
    _function(aws, "url-password", {"DATABASE": f"postgres://app:{URL_PASSWORD}@db.internal:5432/models"})
    _project(
        aws,
        "build-with-token",
        [
            {"name": "GITHUB_PAT", "value": GITHUB, "type": "PLAINTEXT"},
            {"name": "DOCKER_PASSWORD", "value": "/ci/docker/password", "type": "PARAMETER_STORE"},
        ],
    )
    # passing: references, look-alikes and descriptions of secrets
    _function(
        aws,
        "clean",
        {
            "DB_PASSWORD_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
            "TOKEN_TTL": "3600",
            "MAX_TOKENS": "4096",
            "GIT_COMMIT": "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
            "REQUEST_ID": "123e4567-e89b-12d3-a456-426614174000",
            "HANDLER_CLASS": "MyServiceHandlerName2024",
            "BUCKET": "aimodelsharealice123456789012useast1",
            "API_KEY": "",
            "DEBUG_PASSWORD": "false",
        },
    )
    _function(aws, "no-environment", None)
    _project(
        aws,
        "build-with-references",
        [
            {"name": "AWS_ACCESS_KEY_ID", "value": KEY_ID, "type": "PARAMETER_STORE"},
            {"name": "NPM_TOKEN", "value": "ci/npm-token", "type": "SECRETS_MANAGER"},
            {"name": "STAGE", "value": "prod", "type": "PLAINTEXT"},
        ],
    )


def _assert_no_leak(text: str, where: str) -> None:
    for secret in LEAKS:
        assert secret not in text, f"{secret[:4]}... leaked into {where}"


def test_secrets_in_environments(aws: Account, audit: Audit, pytester: pytest.Pytester, tmp_path: Path) -> None:
    _seed(aws)
    snapshot = tmp_path / "snapshot.json"
    junit = tmp_path / "junit.xml"
    result = audit("-k", "AMS-SECRET-001", "--save-snapshot", str(snapshot), "--junitxml", str(junit), "-rA")

    outcomes = result.outcomes("AMS-SECRET-001")
    assert outcomes == {
        "lambda/us-east-1/legacy-keys": "fail",
        "lambda/us-east-1/temp-key-in-text": "fail",
        "lambda/us-east-1/db-password": "fail",
        "lambda/us-east-1/url-password": "fail",
        "codebuild/us-east-1/build-with-token": "fail",
        "lambda/us-east-1/clean": "pass",
        "lambda/us-east-1/no-environment": "pass",
        "codebuild/us-east-1/build-with-references": "pass",
    }
    assert result.ret == 1

    legacy = result.finding("AMS-SECRET-001", "lambda/us-east-1/legacy-keys")
    assert legacy["severity"] == "critical"
    kinds = {s["name"]: (s["kind"], s["value"]) for s in legacy["evidence"]["secrets"]}
    assert kinds == {
        "AIMS_ACCESS_KEY_ID": ("access_key_id", "AKIA" + "*" * 12 + "WXYZ"),
        "AIMS_SECRET_ACCESS_KEY": ("secret_access_key", "[secret masked] (40 characters)"),
    }
    assert "AKIA************WXYZ" in legacy["message"]
    temp = result.finding("AMS-SECRET-001", "lambda/us-east-1/temp-key-in-text")["evidence"]["secrets"]
    assert [(s["kind"], s["value"]) for s in temp] == [("access_key_id", "ASIA************0ABC")]
    assert result.finding("AMS-SECRET-001", "lambda/us-east-1/db-password")["severity"] == "high"
    assert result.finding("AMS-SECRET-001", "lambda/us-east-1/url-password")["severity"] == "critical"
    token = result.finding("AMS-SECRET-001", "codebuild/us-east-1/build-with-token")["evidence"]
    assert [s["name"] for s in token["secrets"]] == ["GITHUB_PAT"]
    assert token["references"] == ["DOCKER_PASSWORD"]
    # nothing that looks like a secret: no case of its own, the rule's examined case stands for it
    clean = result.finding("AMS-SECRET-001", "lambda/us-east-1/clean")
    assert clean["resource"] == "examined"
    assert clean["outcome"] == "pass"
    assert "lambda/us-east-1/clean" in clean["evidence"]["examined"]["resources"]

    # No value reaches any output: findings, reports, JUnit, terminal, snapshot.
    _assert_no_leak(result.stdout + result.stderr, "the terminal")
    for path in [*result.report_dir.rglob("*"), junit, snapshot]:
        if path.is_file():
            _assert_no_leak(path.read_text(errors="replace"), str(path.name))
    stored = json.loads(snapshot.read_text())
    variables = {
        c["name"]: {v["name"]: v for v in c["environment"]} for c in stored["consumers"] if c["kind"] == "lambda"
    }
    assert set(variables["legacy-keys"]["AIMS_ACCESS_KEY_ID"]) == {"name", "type", "classification", "masked"}

    # The snapshot judges the same offline.
    offline = run_audit(pytester, "--snapshot", str(snapshot), "-k", "AMS-SECRET-001")
    assert offline.outcomes("AMS-SECRET-001") == outcomes


def test_unreadable_environments_are_errors(aws: Account, pytester: pytest.Pytester) -> None:
    _function(aws, "encrypted", {"A": "b"})
    _project(aws, "build", [{"name": "STAGE", "value": "prod", "type": "PLAINTEXT"}])

    def kms_error(data: dict[str, Any]) -> None:
        functions: Any = data["Functions"]
        for function in functions:
            function["Environment"] = {"Error": {"ErrorCode": "AccessDeniedException", "Message": "KMS denied"}}

    functions = json_answer(lambda r: r.method == "GET" and r.path.startswith("/2015-03-31/functions"), kms_error)
    with proxy_to(aws.url, functions) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-SECRET-001")
    encrypted = result.finding("AMS-SECRET-001", "lambda/us-east-1/encrypted")
    assert encrypted["outcome"] == "error"
    assert "kms:Decrypt" in encrypted["message"]
    assert "KMS denied" in encrypted["message"]
    assert result.outcomes("AMS-SECRET-001")["codebuild/us-east-1/build"] == "pass"

    with proxy_to(aws.url, lambda_list_functions(), Deny("json", is_target("BatchGetProjects"))) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-SECRET-001")
    outcomes = result.outcomes("AMS-SECRET-001")
    assert set(outcomes.values()) == {"error"}, outcomes
    messages = " ".join(f["message"] for f in result.findings)
    assert "lambda:ListFunctions" in messages
    assert "codebuild:BatchGetProjects" in messages
    assert result.ret != 0


def test_raw_gaad_file_makes_environments_unknown(pytester: pytest.Pytester, tmp_path: Path) -> None:
    gaad = tmp_path / "gaad.json"
    arn = "arn:aws:iam::123456789012:user/alice"
    gaad.write_text(json.dumps({"UserDetailList": [{"UserName": "alice", "UserId": "AIDA1", "Arn": arn, "Path": "/"}]}))
    result = run_audit(pytester, "--snapshot", str(gaad), "-k", "AMS-SECRET-001")
    assert set(result.outcomes("AMS-SECRET-001").values()) == {"error"}


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("AWS_ACCESS_KEY_ID", KEY_ID, "access_key_id"),
        ("X", f"PREFIX{KEY_ID}", None),  # glued to other capitals: not a key id on its own
        ("X", f"id:{KEY_ID}.", "access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", SECRET, "secret_access_key"),
        ("HASH", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", None),
        ("SESSION", "A" * 50 + "b1/" * 20, "session_token"),
        ("DSN", "mysql://root:pw@localhost/db", "url_credentials"),
        ("HOMEPAGE", "https://example.com/path@v2", None),
        ("ClientSecret", "x", "named_secret"),
        ("SLACK_SIGNING_KEY", "abc", "named_secret"),
        ("SECRET_NAME", "prod/db", None),
        ("TOKEN_URL", "https://auth/token", None),
        ("PASSWORD", "{{resolve:secretsmanager:db}}", None),
        ("PASSWORD", "  ", None),
        ("SEED", "sk_live_51HxYzAbCdEfGhIjKlMnOpQr", "high_entropy"),
        ("CLASS", "ModelTrainingPipelineV2Prod", None),
        ("IMAGE", "aws/codebuild/standard:7.0", None),
        # found by review: PEM keys (real or escaped line breaks), a key file pasted whole, joined names
        (
            "DEPLOY_KEY",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
            "private_key",
        ),
        ("SA_JSON", '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n"}', "private_key"),
        ("SSH", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", "private_key"),
        ("CERT", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", None),  # public
        ("PGPASSWORD", "Tr0ub4dor&3", "named_secret"),
        ("DBPASSWORD", "x1y2", "named_secret"),
        ("DB_PASS", "hunter2", "named_secret"),
        ("GHTOKEN", "abc", "named_secret"),
        ("TOKENIZER_PATH", "bert-base-uncased", None),  # ML code: a tokenizer, not a token
        ("BYPASS_CACHE", "yes-please", None),
    ],
)
def test_classification(name: str, value: str, kind: str | None) -> None:
    found = classify(name, value)
    assert found.classification == kind
    assert len(value) < 8 or value not in repr(found)
    assert classify(name, value, "SECRETS_MANAGER").classification is None


def test_helpers_are_precise() -> None:
    assert secret_named("DB_PASSWORD")
    assert secret_named("apiKey")
    assert not secret_named("PASSWORD_POLICY")
    assert not high_entropy("0123456789abcdef0123456789abcdef")  # hex: no upper case


def test_the_demo_finds_the_legacy_key_pair_and_prints_it_nowhere(tmp_path: Path) -> None:
    from conftest import demo_audit

    from ams_iam_audit.demo import LEGACY_KEY_ID, LEGACY_SECRET

    snapshot, junit = tmp_path / "demo.snapshot.json", tmp_path / "junit.xml"
    result = demo_audit(tmp_path, "-k", "AMS-SECRET-001", "--save-snapshot", str(snapshot), "--junitxml", str(junit))
    finding = result.finding("AMS-SECRET-001", "lambda/us-east-1/evalfunctionQm7Kx2Vb9Np4")
    assert finding["outcome"] == "fail"
    assert {s["name"]: s["value"] for s in finding["evidence"]["secrets"]} == {
        "AWS_ACCESS_KEY_ID_AIMS": "AKIA************Y7XQ",
        "AWS_SECRET_ACCESS_KEY_AIMS": "[secret masked] (40 characters)",
    }
    outputs = {"terminal": result.stdout + result.stderr}
    outputs.update({p.name: p.read_text() for p in [*result.report_dir.iterdir(), snapshot, junit] if p.is_file()})
    for where, text in outputs.items():
        assert LEGACY_KEY_ID not in text, where
        assert LEGACY_SECRET not in text, where


def test_fix_leaves_the_demo_secret_bucket_and_trail_to_a_person(aws: Account, pytester: pytest.Pytester) -> None:
    """No automatic fix for these (rotating a key out of a workload, blocking a bucket that may serve
    the public, changing what a trail logs): ``--fix`` reports each as not fixed, and changes nothing."""
    import boto3
    from demo_table import DEMO_NOT_FIXED

    from ams_iam_audit import demo

    demo.seed(boto3.Session(region_name="us-east-1"), aws.url)
    aws.like_the_demo()
    rules = " or ".join(DEMO_NOT_FIXED)
    result = audit_at(pytester, aws.url, "--fix", "-k", rules)
    failing = {f["rule_id"]: [f["resource"]] for f in result.findings if f["outcome"] == "fail"}
    assert failing == DEMO_NOT_FIXED
    for finding in result.findings:
        if finding["outcome"] == "fail":
            assert "(not fixed: no automatic fix for this rule: follow the remediation)" in finding["message"]
    assert result.ret == 1
    variables = aws.client("lambda").get_function_configuration(FunctionName="evalfunctionQm7Kx2Vb9Np4")
    assert set(variables["Environment"]["Variables"]) == {
        "AWS_ACCESS_KEY_ID_AIMS",
        "AWS_SECRET_ACCESS_KEY_AIMS",
        "BUCKET_NAME",
    }


def test_a_malformed_environment_is_an_error_that_quotes_no_value(aws: Account, pytester: pytest.Pytester) -> None:
    _function(aws, "odd", {"A": "b"})

    def variables_as_a_list(data: dict[str, Any]) -> None:
        functions: Any = data["Functions"]
        for function in functions:
            function["Environment"] = {"Variables": [f"DB_PASSWORD={PASSWORD}"]}

    functions = json_answer(
        lambda r: r.method == "GET" and r.path.startswith("/2015-03-31/functions"), variables_as_a_list
    )
    with proxy_to(aws.url, functions) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-SECRET-001")
    assert set(result.outcomes("AMS-SECRET-001").values()) == {"error"}
    assert "MalformedResponse calling lambda:ListFunctions" in json.dumps(result.findings)
    _assert_no_leak(result.stdout + result.stderr, "the terminal")
    for path in result.report_dir.rglob("*"):
        _assert_no_leak(path.read_text(errors="replace"), path.name)
