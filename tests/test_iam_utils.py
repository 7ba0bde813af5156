"""``ams_iam_audit.iam_utils`` against the moto server (botocore ``Stubber`` where moto cannot show
AWS's behaviour), and the fix journal."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.stub import Stubber
from conftest import ACCOUNT, OTHER_ACCOUNT, Account

from ams_iam_audit import iam_utils
from ams_iam_audit.aws import get_execution_session
from ams_iam_audit.iam_utils.changes import Call, Executor
from ams_iam_audit.policy import action_info
from ams_iam_audit.remediate.journal import Journal, JournalError, read_journal
from ams_iam_audit.remediate.permissions import fix_actions, fix_policy

if TYPE_CHECKING:
    from botocore.client import BaseClient


TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


class Recorder(Executor):
    """Makes the calls and remembers them: the tests assert on what was written."""

    def __init__(self, skip: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.skip = skip

    def run(self, client: Any, call: Call) -> Any:
        self.calls.append(call)
        return None if call.operation in self.skip else super().run(client, call)

    @property
    def operations(self) -> list[str]:
        return [c.operation for c in self.calls]


def test_ensure_role_creates_updates_and_then_leaves_alone(aws: Account) -> None:
    rec = Recorder()
    tags = {"team": "ml"}
    assert iam_utils.ensure_role(aws.iam, "r", TRUST, "desc", tags=tags, executor=rec) == (True, False)
    assert iam_utils.ensure_role(aws.iam, "r", json.dumps(TRUST), "desc", tags=tags, executor=rec) == (False, False)
    assert rec.operations == ["create_role"]
    aws.iam.tag_role(RoleName="r", Tags=[{"Key": "owner", "Value": "alice"}])
    wider = {**TRUST, "Statement": [{**TRUST["Statement"][0], "Principal": {"Service": "ec2.amazonaws.com"}}]}
    assert iam_utils.ensure_role(aws.iam, "r", wider, "new", tags={"team": "ai"}, executor=rec) == (False, True)
    role: Mapping[str, Any] = aws.iam.get_role(RoleName="r")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert role["Description"] == "new"
    role_tags = {t["Key"]: t["Value"] for t in aws.iam.list_role_tags(RoleName="r")["Tags"]}
    assert role_tags == {"team": "ai", "owner": "alice"}  # another owner's tag is kept


@pytest.mark.parametrize(
    "same",
    [
        doc({"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}),  # list vs string
        {
            "Statement": {"Resource": "arn:aws:s3:::b/*", "Action": "S3:GetObject", "Effect": "Allow"},  # object
            "Version": "2012-10-17",
        },
    ],
)
def test_an_equivalent_document_creates_no_version(aws: Account, same: dict[str, Any]) -> None:
    rec = Recorder()
    first = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"})
    arn, created, updated = iam_utils.ensure_managed_policy(aws.iam, "p", first, executor=rec)
    assert (arn, created, updated) == (f"arn:aws:iam::{ACCOUNT}:policy/p", True, False)
    assert iam_utils.ensure_managed_policy(aws.iam, "p", same, executor=rec) == (arn, False, False)
    assert rec.operations == ["create_policy"]


def test_policy_versions_respect_the_limit_and_reuse_an_older_match(aws: Account) -> None:
    documents = [doc({"Effect": "Allow", "Action": f"s3:GetObject{'Version' * i}", "Resource": "*"}) for i in range(2)]
    documents += [doc({"Effect": "Allow", "Action": a, "Resource": "*"}) for a in ("sqs:SendMessage", "sns:Publish")]
    documents += [
        doc({"Effect": "Allow", "Action": a, "Resource": "*"}) for a in ("logs:PutLogEvents", "ec2:StartInstances")
    ]
    for document in documents[:5]:
        iam_utils.ensure_managed_policy(aws.iam, "p", document)
    arn = f"arn:aws:iam::{ACCOUNT}:policy/p"
    assert len(aws.iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 5
    rec = Recorder()
    assert iam_utils.ensure_managed_policy(aws.iam, "p", documents[5], executor=rec)[1:] == (False, True)
    assert rec.operations == ["delete_policy_version", "create_policy_version"]
    assert rec.calls[0].params["VersionId"] == "v1"  # the oldest non-default one
    versions = {v["VersionId"]: v["IsDefaultVersion"] for v in aws.iam.list_policy_versions(PolicyArn=arn)["Versions"]}
    assert versions == {"v2": False, "v3": False, "v4": False, "v5": False, "v6": True}
    rec = Recorder()
    iam_utils.ensure_managed_policy(aws.iam, "p", documents[2], executor=rec)  # what v3 holds
    assert rec.operations == ["set_default_policy_version"]
    assert aws.iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"


def test_the_policy_arn_comes_from_the_clients_own_credentials(aws: Account, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ambient configuration points nowhere; only the client given is right, and it is what counts."""
    assumed = boto3.client("sts", endpoint_url=aws.url).assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/deployer", RoleSessionName="test"
    )["Credentials"]
    other = boto3.client(
        "iam",
        endpoint_url=aws.url,
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # a default client would fail here
    arn, created, _ = iam_utils.ensure_managed_policy(
        other, "p", doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    )
    assert created
    assert arn == f"arn:aws:iam::{OTHER_ACCOUNT}:policy/p"


def test_attachment_is_checked_on_every_page(aws: Account) -> None:
    iam = aws.iam
    stub = Stubber(iam)
    arn = f"arn:aws:iam::{ACCOUNT}:policy/p"
    stub.add_response(
        "list_attached_role_policies",
        {
            "AttachedPolicies": [{"PolicyName": "a", "PolicyArn": "arn:aws:iam::1:policy/a"}],
            "IsTruncated": True,
            "Marker": "m",
        },
        {"RoleName": "r"},
    )
    stub.add_response(
        "list_attached_role_policies",
        {"AttachedPolicies": [{"PolicyName": "p", "PolicyArn": arn}], "IsTruncated": False},
        {"RoleName": "r", "Marker": "m"},
    )
    with stub:
        assert iam_utils.attach_managed_policy_to_role(iam, "r", arn) is False
    stub.assert_no_pending_responses()


def test_inline_policy_is_put_only_when_it_differs(aws: Account) -> None:
    aws.role("r")
    rec = Recorder()
    first = doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    assert iam_utils.ensure_inline_policy(aws.iam, "r", "i", first, executor=rec) == (True, False)
    assert iam_utils.ensure_inline_policy(aws.iam, "r", "i", first, executor=rec) == (False, False)
    second = doc({"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"})
    assert iam_utils.ensure_inline_policy(aws.iam, "r", "i", second, executor=rec) == (False, True)
    assert rec.operations == ["put_role_policy", "put_role_policy"]
    assert rec.calls[1].undo[0].params["PolicyDocument"] == iam_utils.json_text(first)
    with pytest.raises(ValueError, match="holder must be one of role, user, group"):
        iam_utils.ensure_inline_policy(aws.iam, "r", "i", first, holder="bucket")


def test_ensure_bucket_blocks_public_access_and_is_idempotent(aws: Account) -> None:
    assert iam_utils.ensure_bucket(aws.s3, "aimodelshare-x", "us-east-1") is True
    block = aws.s3.get_public_access_block(Bucket="aimodelshare-x")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    assert iam_utils.ensure_bucket(aws.s3, "aimodelshare-x", "us-east-1") is False
    west = aws.client("s3", "eu-west-1")
    assert iam_utils.ensure_bucket(west, "aimodelshare-eu", "eu-west-1") is True
    assert west.get_bucket_location(Bucket="aimodelshare-eu")["LocationConstraint"] == "eu-west-1"


def test_ensure_bucket_refuses_another_accounts_bucket(aws: Account) -> None:
    assumed = boto3.client("sts", endpoint_url=aws.url).assume_role(
        RoleArn=f"arn:aws:iam::{OTHER_ACCOUNT}:role/x", RoleSessionName="test"
    )["Credentials"]
    boto3.client(
        "s3",
        endpoint_url=aws.url,
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
    ).create_bucket(Bucket="aimodelshare-taken")
    with pytest.raises(iam_utils.BucketOwnedElsewhereError, match="aimodelshare-taken is owned by another account"):
        iam_utils.ensure_bucket(aws.s3, "aimodelshare-taken", "us-east-1")


def test_ensure_bucket_survives_a_concurrent_create(aws: Account) -> None:
    s3 = aws.s3
    stub = Stubber(s3)
    stub.add_client_error("head_bucket", "404", http_status_code=404)
    stub.add_client_error("create_bucket", "BucketAlreadyOwnedByYou", http_status_code=409)
    with stub:
        assert iam_utils.ensure_bucket(s3, "aimodelshare-race", "us-east-1") is False
    stub.assert_no_pending_responses()


def test_a_user_is_not_deleted_while_it_has_keys(aws: Account) -> None:
    """moto deletes a user with keys; AWS does not, and neither do we."""
    aws.iam.create_user(UserName="AI_MODELSHARE_1")
    aws.iam.create_access_key(UserName="AI_MODELSHARE_1")
    rec = Recorder(skip=frozenset({"delete_access_key"}))  # as if the key could not be deleted
    with pytest.raises(iam_utils.RetirementRefusedError, match="still has 1 access key"):
        iam_utils.retire_user(aws.iam, "AI_MODELSHARE_1", executor=rec)
    assert "delete_user" not in rec.operations
    assert aws.iam.get_user(UserName="AI_MODELSHARE_1")
    assert rec.operations[0] == "update_access_key"  # deactivated before anything is removed


def test_a_user_is_retired_in_awss_order(aws: Account) -> None:
    arn = aws.policy("temporaryaccessAImodelsharePolicyabc", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    aws.iam.create_user(UserName="AI_MODELSHARE_2")
    aws.iam.create_access_key(UserName="AI_MODELSHARE_2")
    aws.iam.create_login_profile(UserName="AI_MODELSHARE_2", Password="Correct-horse-9")
    aws.iam.create_group(GroupName="g")
    aws.iam.add_user_to_group(GroupName="g", UserName="AI_MODELSHARE_2")
    aws.iam.attach_user_policy(UserName="AI_MODELSHARE_2", PolicyArn=arn)
    aws.iam.put_user_policy(
        UserName="AI_MODELSHARE_2",
        PolicyName="i",
        PolicyDocument=json.dumps(doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})),
    )
    rec = Recorder()
    iam_utils.retire_user(aws.iam, "AI_MODELSHARE_2", executor=rec)
    assert rec.operations == [
        "update_access_key",
        "delete_login_profile",
        "delete_access_key",
        "delete_user_policy",
        "remove_user_from_group",
        "detach_user_policy",
        "delete_user",
    ]
    assert (
        rec.calls[2].irreversible == "an access key's secret cannot come back: issue a new key if the user is restored"
    )
    assert iam_utils.retire_user(aws.iam, "AI_MODELSHARE_2") is None  # already gone: nothing to do


def test_an_attached_policy_is_not_deleted(aws: Account) -> None:
    arn = aws.policy("lambda_policy_x", {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    aws.role("lambda_role_x", None, arn)
    with pytest.raises(iam_utils.RetirementRefusedError, match="still attached to 1 principal"):
        iam_utils.delete_managed_policy(aws.iam, arn)
    assert aws.iam.get_policy(PolicyArn=arn)


def test_a_role_in_an_instance_profile_is_not_retired(aws: Account) -> None:
    aws.role("codebuild_role")
    aws.iam.create_instance_profile(InstanceProfileName="ip")
    aws.iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="codebuild_role")
    rec = Recorder()
    with pytest.raises(iam_utils.RetirementRefusedError, match="instance profile"):
        iam_utils.retire_role(aws.iam, "codebuild_role", executor=rec)
    assert rec.calls == []


def test_a_role_that_still_holds_a_policy_is_not_deleted(aws: Account) -> None:
    arn = aws.policy("p", {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
    aws.role("lambda_role_y", None, arn)
    with pytest.raises(iam_utils.RetirementRefusedError, match="still holds 1 policies"):
        iam_utils.delete_role(aws.iam, "lambda_role_y")


def test_the_execution_session_is_the_librarys() -> None:
    assert iam_utils.get_execution_session is get_execution_session


def test_every_declared_permission_is_a_real_action() -> None:
    unknown = [a for a in fix_actions() if action_info(a) is None]
    assert unknown == []
    assert "iam:DeleteRole" in fix_actions()
    assert "codebuild:UpdateProject" in fix_actions()


def test_the_journal_is_written_before_each_call_and_marks_the_outcome(tmp_path: Path) -> None:
    class Client:
        def ok(self, **kwargs: Any) -> str:
            assert read_journal(path).entries[-1].status == "unknown"  # written down before the call
            return "ok"

        def boom(self, **kwargs: Any) -> None:
            raise RuntimeError("no")

    path = tmp_path / "j.jsonl"
    with Journal(path, ACCOUNT, "arn:aws:iam::123456789012:user/me") as journal:
        journal.run(cast("BaseClient", Client()), Call("iam", "ok", {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}))
        with pytest.raises(RuntimeError):
            journal.run(cast("BaseClient", Client()), Call("iam", "boom", {}))
    parsed = read_journal(path)
    assert [e.status for e in parsed.entries] == ["done", "failed"]
    assert parsed.entries[0].call.params["AccessKeyId"] == "AKIA************MPLE"
    assert "AKIAIOSFODNN7EXAMPLE" not in path.read_text()
    with pytest.raises(FileExistsError):
        Journal(path, ACCOUNT, None).__enter__()  # never appended to or overwritten


def test_a_torn_last_line_is_a_change_never_made_and_a_bad_journal_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    header = {"type": "header", "format": "ams-iam-audit/fix-journal", "version": 1, "account": ACCOUNT}
    path.write_text(json.dumps(header) + '\n{"type": "change", "seq": 1, "ca')
    assert read_journal(path).entries == ()
    path.write_text(json.dumps(header) + "\nnot json\n{}\n")
    with pytest.raises(JournalError, match=r"j.jsonl:2: not JSON"):
        read_journal(path)
    path.write_text('{"type": "change"}\n')
    with pytest.raises(JournalError, match=r"j.jsonl:1: not an ams-iam-audit fix journal"):
        read_journal(path)


def test_the_readme_prints_the_policy_fix_policy_prints() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("### Permissions `--fix` needs", 1)[1].split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == fix_policy()
