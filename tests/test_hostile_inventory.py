"""Nothing falsely compliant: an inventory never silently drops a part of the account.

Hostile GetAccountAuthorizationDetails files (a default version missing, filtered exports that lack
lists), and a fault-injecting proxy in front of moto (pages truncated without a marker or repeating
one, items of the wrong shape, bodies that are not the protocol's, garbage dates, a bad credential
report, calls that stall past the deadline, throttling). Each must end as an unreadable section or
item naming what is missing (the rules report *error*), never as a pass, and never as a traceback.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_proxy import (
    Fault,
    Proxy,
    is_get,
    is_query,
    is_target,
    json_answer,
    proxy_to,
    query_action,
    rewrite,
    stall,
    throttle,
    truncated_without_marker,
    xml_marker_repeated,
)
from conftest import ACCOUNT, Account, AuditResult, audit_at, run_audit
from moto_gaps import all_gaps

from ams_iam_audit.aws import AwsClients, CallerIdentity
from ams_iam_audit.inventory import IAM_PARTS, Inventory, Section
from ams_iam_audit.inventory.collect import collect
from ams_iam_audit.scopes import AuditContext, Subject, Unreadable, subjects_for

ADMIN: dict[str, Any] = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
READ: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


# --- helpers -----------------------------------------------------------------------------------------


def _policy(name: str, versions: list[dict[str, Any]] | None, default: str = "v1") -> dict[str, Any]:
    item: dict[str, Any] = {
        "PolicyName": name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:policy/{name}",
        "Path": "/",
        "DefaultVersionId": default,
        "AttachmentCount": 0,
    }
    if versions is not None:
        item["PolicyVersionList"] = versions
    return item


def _version(version_id: str, document: Any, default: bool) -> dict[str, Any]:
    return {"VersionId": version_id, "IsDefaultVersion": default, "Document": document}


def _role(name: str, *attached: str, inline: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "RoleName": name,
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "Path": "/",
        "CreateDate": "2024-01-01T00:00:00Z",
        "AssumeRolePolicyDocument": TRUST,
        "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in (inline or {}).items()],
        "AttachedManagedPolicies": [
            {"PolicyName": a, "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/{a}"} for a in attached
        ],
    }


def _gaad_file(pytester: pytest.Pytester, **lists: Any) -> Path:
    path = pytester.path / "gaad.json"
    path.write_text(json.dumps(lists))
    return path


def _not_passed(result: AuditResult, resource: str) -> None:
    judged = {f["rule_id"]: f["outcome"] for f in result.findings if f["resource"] == resource}
    assert judged, f"{resource} was not judged at all: {result.outcomes()}"
    assert set(judged.values()) == {"error"}, (resource, judged)


def _gaps(result: AuditResult) -> dict[str, dict[str, Any]]:
    assert result.document is not None
    return {c["section"]: c for c in result.document["coverage"] if not c["readable"]}


def _collect(url: str, call_timeout: float = 60.0) -> Inventory:
    clients = AwsClients(boto3.Session(region_name="us-east-1"), url, call_timeout)
    return collect(clients, CallerIdentity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/auditor"), ["us-east-1"])


def _section(inventory: Inventory, name: str) -> Section:
    section = inventory.section(name)
    assert section is not None, [s.name for s in inventory.sections]
    return section


def _items(inventory: Inventory, scope: str) -> dict[str, Subject | Unreadable]:
    items = subjects_for(scope, AuditContext(inventory))
    return {i.id: i for i in items if isinstance(i, Subject | Unreadable)}


# --- 1. silent gaps in GAAD input --------------------------------------------------------------------


def test_gaad_file_policy_without_its_default_version_is_an_error_of_its_own(pytester: pytest.Pytester) -> None:
    path = _gaad_file(
        pytester,
        UserDetailList=[],
        GroupDetailList=[],
        RoleDetailList=[],
        Policies=[
            _policy("admin-v2-missing", [_version("v1", READ, False)], default="v2"),
            _policy("admin-empty-list", []),
            _policy("admin-no-list", None),
            _policy("admin-not-json", [_version("v1", "%7Bnot json", True)]),
            _policy("admin-readable", [_version("v1", ADMIN, True)]),
        ],
    )
    result = run_audit(pytester, "--snapshot", str(path), "-k", "AMS-PRIV-001 or AMS-S3-001 or AMS-POLICY-001")
    assert result.ret == 1, result.stdout + result.stderr
    assert result.outcomes("AMS-PRIV-001")["policy/admin-readable"] == "fail"
    messages = {
        "policy/admin-v2-missing": "default version v2 is not in PolicyVersionList (which holds v1)",
        "policy/admin-empty-list": "PolicyVersionList is empty",
        "policy/admin-no-list": "PolicyVersionList is missing",
        "policy/admin-not-json": "not valid JSON",
    }
    gaps = _gaps(result)
    for resource, expected in messages.items():
        _not_passed(result, resource)
        finding = result.finding("AMS-PRIV-001", resource)
        assert expected in finding["message"], finding["message"]
        section = "iam:" + resource
        assert expected in gaps[section]["error"], gaps[section]
        assert f"coverage gap: {section}: unreadable" in result.stdout


def test_gaad_file_of_roles_only_leaves_every_other_part_unreadable(pytester: pytest.Pytester) -> None:
    """What ``aws iam get-account-authorization-details --filter Role`` writes: the users, groups and
    policies are not "none", they are unknown."""
    path = _gaad_file(
        pytester,
        RoleDetailList=[
            _role("lambda_role_a1b2c3", "lambda_policy_a1b2c3", inline={"admin": ADMIN}),
            _role("plain", inline={"read": READ}),
        ],
    )
    result = run_audit(pytester, "--snapshot", str(path))
    gaps = _gaps(result)
    for part, key in (("iam:users", "UserDetailList"), ("iam:groups", "GroupDetailList"), ("iam:policies", "Policies")):
        assert f"has no {key}" in gaps[part]["error"], gaps[part]
        assert f"coverage gap: {part}: unreadable" in result.stdout
    assert "iam:roles" not in gaps
    # users: unknown, not "none"
    assert result.outcomes("AMS-USER-001") == {"unreadable-iam:users": "error"}
    # managed policies: unknown, and so is whether a policy is a legacy one (its role confirms it)
    for rule in ("AMS-POLICY-001", "AMS-ROLE-002"):
        outcomes = result.outcomes(rule)
        assert set(outcomes.values()) == {"error"}, (rule, outcomes)
    # documents: what the roles hold is judged, the missing parts are one error naming them
    priv = result.outcomes("AMS-PRIV-001")
    assert priv["role/lambda_role_a1b2c3/inline/admin"] == "fail"
    assert priv["role/plain/inline/read"] == "pass"
    assert priv["unreadable-iam:users-iam:groups-iam:policies"] == "error"
    # roles are readable: judged as usual
    assert result.outcomes("AMS-ROLE-001")["role/lambda_role_a1b2c3"] == "fail"
    # shared roles: their policies are unknown
    for rule in ("AMS-SHARED-001", "AMS-SHARED-002", "AMS-SHARED-003"):
        assert set(result.outcomes(rule).values()) == {"error"}, result.outcomes(rule)
    # whatever passes is in the part the file holds
    passed = {key.split(" ", 1)[1] for key, outcome in result.outcomes().items() if outcome == "pass"}
    assert passed
    assert all(r.startswith("role/") for r in passed), passed


def test_gaad_file_with_a_list_of_another_shape_is_refused(pytester: pytest.Pytester) -> None:
    path = _gaad_file(pytester, RoleDetailList=[], Policies={"not": "a list"})
    result = run_audit(pytester, "--snapshot", str(path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "Policies must be a list, got dict" in result.stderr


def test_section_names_nest() -> None:
    """Existing consumers asking for ``iam`` still get an answer when a file recorded the parts, and
    consumers asking for a part get the whole a live run recorded."""
    at = datetime(2024, 1, 1, tzinfo=UTC)
    live = Inventory(ACCOUNT, "aws", at, None, (), (Section("iam", True, source="GetAccountAuthorizationDetails"),))
    assert all(live.readable(part) for part in IAM_PARTS)
    assert _section(live, "iam:roles").name == "iam"
    parts = tuple(Section(p, p != "iam:users", error="missing") for p in IAM_PARTS)
    from_file = Inventory(ACCOUNT, "aws", at, None, (), parts)
    whole = _section(from_file, "iam")
    assert not whole.readable
    assert whole.error == "iam:users: missing"
    assert from_file.readable("iam:roles")
    assert not from_file.readable("iam:users")
    complete = Inventory(ACCOUNT, "aws", at, None, (), tuple(Section(p, True) for p in IAM_PARTS))
    assert complete.readable("iam")


# --- 2. inconsistent paging ----------------------------------------------------------------------------


def test_gaad_truncated_without_marker_is_unreadable_and_every_iam_rule_errors(
    pytester: pytest.Pytester, aws: Account
) -> None:
    aws.iam.create_user(UserName="alice")
    aws.policy("readable", READ["Statement"][0])
    with proxy_to(aws.url, truncated_without_marker("GetAccountAuthorizationDetails")) as proxy:
        result = audit_at(pytester, proxy.url, "--aws-execution-role-arn", f"arn:aws:iam::{ACCOUNT}:role/exec")
    assert proxy.faulted
    gaps = _gaps(result)
    assert "InconsistentPaging calling iam:GetAccountAuthorizationDetails" in gaps["iam"]["error"]
    assert "says IsTruncated but gives no Marker" in gaps["iam"]["error"]
    # they read no IAM (the root user, the password policy and Access Analyzer are calls of their own)
    not_iam: tuple[str, ...] = ("AMS-S3-001", "AMS-S3-003", "AMS-SECRET-001", "AMS-TRAIL-001")
    not_iam += ("AMS-CRED-001", "AMS-CRED-002", "AMS-CRED-007", "AMS-ACCT-003")
    iam_findings = [f for f in result.findings if f["rule_id"] not in not_iam]
    assert {f["outcome"] for f in iam_findings} == {"error"}, result.outcomes()
    assert not [f for f in iam_findings if f["outcome"] == "pass"]


PAGING_FAULTS = {
    "gaad repeats its marker": (xml_marker_repeated("GetAccountAuthorizationDetails"), "iam", "repeats the Marker"),
    "gaad item of another shape": (
        rewrite(
            is_query("GetAccountAuthorizationDetails"),
            rb"<RoleDetailList/>",
            b"<RoleDetailList><member><Path>/</Path></member></RoleDetailList>",
        ),
        "iam",
        "MalformedResponse calling iam:GetAccountAuthorizationDetails: RoleDetailList: missing RoleName",
    ),
    "s3 repeats its token": (
        rewrite(is_get("/"), rb"</ListAllMyBucketsResult>", b"<ContinuationToken>t</ContinuationToken>\\g<0>"),
        "s3",
        "InconsistentPaging calling s3:ListBuckets: page 2 repeats the ContinuationToken",
    ),
    "lambda repeats its marker": (
        json_answer(is_get("/2015-03-31/functions"), lambda d: d.update(NextMarker="m")),
        "lambda:us-east-1",
        "InconsistentPaging calling lambda:ListFunctions",
    ),
    "lambda functions not a list": (
        json_answer(is_get("/2015-03-31/functions"), lambda d: d.update(Functions={"f": 1})),
        "lambda:us-east-1",
        "MalformedResponse calling lambda:ListFunctions",
    ),
    "lambda function without a name": (
        json_answer(is_get("/2015-03-31/functions"), lambda d: d.update(Functions=[{"Role": "r"}])),
        "lambda:us-east-1",
        "MalformedResponse calling lambda:ListFunctions: an item has no FunctionName",
    ),
    "codebuild repeats its token": (
        json_answer(is_target("ListProjects"), lambda d: d.update(nextToken="n", projects=["p"])),
        "codebuild:us-east-1",
        "InconsistentPaging calling codebuild:ListProjects",
    ),
    "codebuild project missing from the batch": (
        json_answer(is_target("ListProjects"), lambda d: d.update(projects=["ghost"])),
        "codebuild:us-east-1",
        "no answer for project(s) ghost",
    ),
    "apigateway repeats its position": (
        json_answer(is_get("/restapis"), lambda d: d.update(position="p")),
        "apigateway:us-east-1",
        "InconsistentPaging calling apigateway:GetRestApis",
    ),
    "apigateway api without an id": (
        json_answer(is_get("/restapis"), lambda d: d.update(item=[{"name": "x"}], items=[{"name": "x"}])),
        "apigateway:us-east-1",
        "MalformedResponse calling apigateway:GetRestApis: an item has no id",
    ),
}


@pytest.mark.parametrize("fault", PAGING_FAULTS.values(), ids=PAGING_FAULTS.keys())
def test_inconsistent_page_makes_its_section_unreadable(aws: Account, fault: tuple[Fault, str, str]) -> None:
    rule, name, expected = fault
    aws.s3.create_bucket(Bucket="some-bucket")
    with proxy_to(aws.url, rule) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = _section(inventory, name)
    assert not section.readable, section
    assert section.error is not None
    assert expected in section.error, section.error
    derived = ("access_keys", "credential_report")  # read only once IAM is
    others = [s for s in inventory.sections if s.name != name and not s.readable and s.name not in derived]
    assert not others, others
    if name.split(":")[0] in ("lambda", "codebuild", "apigateway"):
        # what --fix and AMS-ROLE-001 check before trusting "no consumer uses this role"
        assert section in inventory.consumer_sections


def test_list_access_keys_truncated_without_marker(aws: Account) -> None:
    user = "AI_MODELSHARE_2024_01_01_00_00_00"
    aws.iam.create_user(UserName=user)
    aws.iam.create_access_key(UserName=user)
    faults = (query_action("GenerateCredentialReport"), truncated_without_marker("ListAccessKeys"))
    with proxy_to(aws.url, *faults) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = _section(inventory, "access_keys")
    assert not section.readable
    assert section.error is not None
    assert "InconsistentPaging calling iam:ListAccessKeys" in section.error
    assert inventory.users[0].access_keys is None  # unknown, never "no keys"


# --- 3. malformed live responses -------------------------------------------------------------------------


def test_garbage_date_in_gaad_is_an_unreadable_section_not_a_traceback(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="alice")
    fault = rewrite(
        is_query("GetAccountAuthorizationDetails"),
        rb"<CreateDate>[^<]*</CreateDate>",
        b"<CreateDate>yesterday-ish</CreateDate>",
    )
    with proxy_to(aws.url, fault) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-USER-001 or AMS-PRIV-001")
    assert proxy.faulted
    assert "Traceback" not in result.stdout + result.stderr
    assert "MalformedResponse calling iam:GetAccountAuthorizationDetails" in _gaps(result)["iam"]["error"]
    assert result.outcomes("AMS-USER-001") == {"unreadable-iam": "error"}
    assert result.outcomes("AMS-PRIV-001") == {"unreadable-iam": "error"}


def test_body_that_is_not_xml_is_an_unreadable_section(aws: Account) -> None:
    fault = Fault(is_query("GetAccountAuthorizationDetails"), alter=lambda _, body: body[: len(body) // 2])
    with proxy_to(aws.url, fault) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = _section(inventory, "iam")
    assert not section.readable
    assert section.error is not None
    assert "calling iam:GetAccountAuthorizationDetails" in section.error


def test_policy_document_that_is_not_json_is_an_error_for_that_policy_only(
    pytester: pytest.Pytester, aws: Account
) -> None:
    aws.policy("broken", ADMIN["Statement"][0])
    aws.policy("admin", ADMIN["Statement"][0])
    aws.policy("missing-default", ADMIN["Statement"][0])

    # one policy's document becomes text that is not JSON; another's version list is emptied, as a
    # hostile or inconsistent answer might have them
    def alter(_: Any, body: bytes) -> bytes:
        return _versions_of(_versions_of(body, "broken", b"<Document>%7Bnot-json</Document>"), "missing-default", b"")

    with proxy_to(aws.url, Fault(is_query("GetAccountAuthorizationDetails"), alter=alter)) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-PRIV-001 or AMS-POLICY-001")
    assert proxy.faulted
    assert "Traceback" not in result.stdout + result.stderr
    assert result.outcomes("AMS-PRIV-001") == {
        "policy/admin": "fail",
        "policy/broken": "error",
        "policy/missing-default": "error",
    }
    assert result.outcomes("AMS-POLICY-001")["policy/broken"] == "error"
    for resource in ("policy/broken", "policy/missing-default"):
        _not_passed(result, resource)
    assert "not valid JSON" in result.finding("AMS-PRIV-001", "policy/broken")["message"]
    assert "PolicyVersionList is empty" in result.finding("AMS-PRIV-001", "policy/missing-default")["message"]
    gaps = _gaps(result)
    assert "iam" not in gaps  # the rest of IAM was read
    assert {"iam:policy/broken", "iam:policy/missing-default"} <= set(gaps)


def _versions_of(body: bytes, policy: str, replacement: bytes) -> bytes:
    """``body`` with the inside of ``policy``'s PolicyVersionList replaced (b"": emptied)."""
    start = body.index(f"policy/{policy}</Arn>".encode())
    open_at = body.index(b"<PolicyVersionList>", start) + len(b"<PolicyVersionList>")
    close_at = body.index(b"</PolicyVersionList>", open_at)
    inside = b"<member>" + replacement + b"<VersionId>v1</VersionId><IsDefaultVersion>true</IsDefaultVersion></member>"
    return body[:open_at] + (inside if replacement else b"") + body[close_at:]


REPORTS = {
    "garbage date": b"user,arn,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
    b"access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    b"access_key_2_last_used_date,access_key_2_last_used_service\n"
    b"alice,arn:aws:iam::123456789012:user/alice,true,sometime,N/A,N/A,false,N/A,N/A,N/A\n",
    "columns missing": b"user,arn\nalice,arn:aws:iam::123456789012:user/alice\n",
    "not utf-8": b"\xff\xfe\x00u\x00s\x00e\x00r",
    "ragged rows": b"user,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,"
    b"access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,"
    b"access_key_2_last_used_date,access_key_2_last_used_service\nalice,true,N/A,N/A,N/A,false,N/A,N/A,N/A,extra\n",
}


@pytest.mark.parametrize("content", REPORTS.values(), ids=REPORTS.keys())
def test_bad_credential_report_falls_back_to_listing_keys(aws: Account, content: bytes) -> None:
    aws.iam.create_user(UserName="alice")
    aws.iam.create_access_key(UserName="alice")
    encoded = base64.b64encode(content)
    fault = rewrite(
        is_query("GetCredentialReport"), rb"<Content>[^<]*</Content>", b"<Content>" + encoded + b"</Content>"
    )
    with proxy_to(aws.url, fault) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = _section(inventory, "access_keys")
    assert section.readable
    assert section.source is not None
    assert section.source.startswith(
        "ListAccessKeys (credential report unavailable: MalformedResponse calling iam:GetCredentialReport"
    )
    (alice,) = inventory.users
    assert alice.access_keys is not None
    assert [k.status for k in alice.access_keys] == ["Active"]
    assert alice.access_keys[0].masked_id is not None


def test_garbage_date_in_listed_keys_leaves_keys_unknown(aws: Account) -> None:
    aws.iam.create_user(UserName="alice")
    aws.iam.create_access_key(UserName="alice")
    faults = (
        query_action("GenerateCredentialReport"),
        rewrite(is_query("ListAccessKeys"), rb"<CreateDate>[^<]*</CreateDate>", b"<CreateDate>not a date</CreateDate>"),
    )
    with proxy_to(aws.url, *faults) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = _section(inventory, "access_keys")
    assert not section.readable
    assert section.error is not None
    assert "MalformedResponse calling iam:ListAccessKeys" in section.error
    assert inventory.users[0].access_keys is None


# --- 4. timeouts -------------------------------------------------------------------------------------


def _wait_for_fault(proxy: Proxy) -> None:
    """On a loaded machine a call's deadline can pass before the proxy's thread has even read the
    request; the audit is over by then: give the proxy up to 10 s to see the stalled call."""
    seen_by = time.monotonic() + 10
    while not proxy.faulted and time.monotonic() < seen_by:
        time.sleep(0.05)


def test_a_call_that_never_answers_ends_at_the_deadline(pytester: pytest.Pytester, aws: Account) -> None:
    aws.iam.create_user(UserName="alice")
    with proxy_to(aws.url, stall(is_query("GetAccountAuthorizationDetails"), 30)) as proxy:
        started = time.monotonic()
        result = audit_at(pytester, proxy.url, "--aws-call-timeout", "1", "-k", "AMS-USER-001")
        elapsed = time.monotonic() - started
        _wait_for_fault(proxy)
    assert proxy.faulted
    assert elapsed < 12, elapsed
    error = _gaps(result)["iam"]["error"]
    assert "iam:GetAccountAuthorizationDetails did not answer within 1 s (--aws-call-timeout)" in error, error
    assert result.outcomes("AMS-USER-001") == {"unreadable-iam": "error"}


def test_call_timeout_in_the_ini_file_and_a_bad_value(pytester: pytest.Pytester, aws: Account) -> None:
    pytester.makeini("[pytest]\naws_call_timeout = 1\n")
    with proxy_to(aws.url, stall(is_get("/2015-03-31/functions"), 30)) as proxy:
        result = audit_at(pytester, proxy.url, "-k", "AMS-ROLE-001")
        _wait_for_fault(proxy)
    assert proxy.faulted
    assert "lambda:ListFunctions did not answer within 1 s" in _gaps(result)["lambda:us-east-1"]["error"]
    bad = audit_at(pytester, aws.url, "--aws-call-timeout", "soon")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert "--aws-call-timeout: 'soon' is not a number of seconds" in bad.stderr


def test_throttling_is_still_retried_within_the_deadline(aws: Account) -> None:
    aws.iam.create_user(UserName="alice")
    with proxy_to(aws.url, throttle("GetAccountAuthorizationDetails", times=2)) as proxy:
        inventory = _collect(proxy.url, call_timeout=30)
    assert len(proxy.faulted) == 2
    assert _section(inventory, "iam").readable
    assert [u.name for u in inventory.users] == ["alice"]


# --- 5. --fix sees every unreadable section it adds ---------------------------------------------------


def test_fix_keeps_a_role_whose_consumers_were_paged_inconsistently(pytester: pytest.Pytester, aws: Account) -> None:
    aws.role("lambda_role_a1b2c3")
    fault = json_answer(is_get("/2015-03-31/functions"), lambda d: d.update(NextMarker="again"))
    with proxy_to(aws.url, fault, *all_gaps()) as proxy:
        result = audit_at(pytester, proxy.url, "--fix-dry-run", "-k", "AMS-ROLE-001")
    assert proxy.faulted
    assert result.outcomes("AMS-ROLE-001") == {"role/lambda_role_a1b2c3": "fail"}
    evidence = result.finding("AMS-ROLE-001", "role/lambda_role_a1b2c3")["evidence"]
    assert evidence["consumers_complete"] is False
    plan = json.loads((result.report_dir / "fix-plan.json").read_text())
    calls = [c["describe"] for a in plan["actions"] for c in a["calls"]]
    assert not [c for c in calls if "lambda_role_a1b2c3" in c], calls
    assert "not fixable: AMS-ROLE-001 role/lambda_role_a1b2c3: consumers could not be read everywhere" in result.stdout
    assert "InconsistentPaging calling lambda:ListFunctions" in result.stdout


def test_a_user_the_credential_report_does_not_list_is_looked_up(aws: Account) -> None:
    """IAM reuses a report for up to four hours: a user created since is not "a user without keys"."""
    aws.iam.create_user(UserName="alice")
    aws.iam.create_access_key(UserName="alice")
    header = REPORTS["garbage date"].split(b"\n")[0] + b"\n"
    fault = rewrite(
        is_query("GetCredentialReport"),
        rb"<Content>[^<]*</Content>",
        b"<Content>" + base64.b64encode(header) + b"</Content>",
    )
    with proxy_to(aws.url, fault) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    assert _section(inventory, "access_keys").source == "credential report"
    (alice,) = inventory.users
    assert alice.access_keys is not None
    assert [(k.status, k.masked_id is not None) for k in alice.access_keys] == [("Active", True)]


def test_gaad_file_attaching_a_policy_it_does_not_list(pytester: pytest.Pytester) -> None:
    """Policies is there, but lacks one that a role has attached: that document is unknown."""
    path = _gaad_file(
        pytester,
        UserDetailList=[],
        GroupDetailList=[],
        RoleDetailList=[_role("app", "admin-unlisted", "admin-listed")],
        Policies=[_policy("admin-listed", [_version("v1", ADMIN, True)])],
    )
    result = run_audit(pytester, "--snapshot", str(path), "-k", "AMS-PRIV-001 or AMS-POLICY-001")
    assert result.outcomes("AMS-PRIV-001") == {"policy/admin-listed": "fail", "policy/admin-unlisted": "error"}
    _not_passed(result, "policy/admin-unlisted")
    error = _gaps(result)["iam:policy/admin-unlisted"]["error"]
    assert (
        f"policy arn:aws:iam::{ACCOUNT}:policy/admin-unlisted is attached to role/app but is not in Policies" in error
    )
