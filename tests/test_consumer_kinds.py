"""The consumer registry (``inventory.consumer_kinds``, issue 15): every registered kind is read in
every audited region, snapshotted, gap-checked (an unreadable or missing section of it keeps every
legacy role), and either re-pointable by ``--fix`` or blocking the retirement of the roles it uses.
The tests iterate the registry, so a new kind cannot skip one of them; ECS task definitions and EC2
instance profiles, read against moto, and the re-pointers' registry, checked both ways."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_proxy import Deny, Request, is_target, json_answer, proxy_to
from conftest import ACCOUNT, Account, audit_at

from ams_iam_audit import AuditContext, Finding
from ams_iam_audit.aws import AwsClients, CallerIdentity
from ams_iam_audit.findings import Outcome
from ams_iam_audit.inventory import Consumer, Inventory, Role, Section, load_snapshot, save_snapshot
from ams_iam_audit.inventory.collect import READ_PERMISSIONS, collect
from ams_iam_audit.inventory.consumer_kinds import (
    CONSUMER_KINDS,
    ConsumerKind,
    consumer_kind,
    kind_titles,
    read_permissions,
    repointable,
)
from ams_iam_audit.remediate import consumers as consumer_ops
from ams_iam_audit.remediate.permissions import fix_actions, fix_policy, write_scopes
from ams_iam_audit.remediate.plan import DeleteRole, EmptyRole, Plan, Repoint, make_plan

if TYPE_CHECKING:
    from mypy_boto3_ecs.type_defs import ContainerDefinitionTypeDef


REGIONS = ("us-east-1", "eu-west-1")
LEGACY = "codebuild_role"  # a legacy per-deployment role with a shared replacement
LEGACY_ARN = f"arn:aws:iam::{ACCOUNT}:role/{LEGACY}"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
KINDS = pytest.mark.parametrize("kind", CONSUMER_KINDS, ids=[k.name for k in CONSUMER_KINDS])


def _collect(url: str, regions: tuple[str, ...] = ("us-east-1",)) -> Inventory:
    clients = AwsClients(boto3.Session(region_name="us-east-1"), url)
    return collect(clients, CallerIdentity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/auditor"), regions)


def _consumer(kind: ConsumerKind, region: str = "us-east-1") -> Consumer:
    """A consumer of ``kind`` using the legacy role (an API Gateway method's ARN, which its
    re-pointer parses; any other kind's is opaque to the plan)."""
    arn = (
        f"arn:aws:apigateway:{region}::/restapis/a1/resources/r1/methods/POST"
        if kind.name == "apigateway"
        else f"arn:aws:{kind.name}:{region}:{ACCOUNT}:thing/{kind.name}-user"
    )
    return Consumer(kind=kind.name, region=region, name=f"{kind.name}-user", arn=arn, role_arn=LEGACY_ARN)


def _inventory(*consumers: Consumer, sections: tuple[Section, ...] | None = None) -> Inventory:
    """The legacy role, used by ``consumers``; every kind read in every region unless ``sections``."""
    role = Role(
        name=LEGACY,
        arn=LEGACY_ARN,
        path="/",
        created=datetime(2024, 1, 1, tzinfo=UTC),
        trust_policy=TRUST,
        attached_policies=(),
    )
    readable = tuple(Section(kind.section(r), True) for kind in CONSUMER_KINDS for r in REGIONS)
    return Inventory(
        account_id=ACCOUNT,
        partition="aws",
        collected_at=datetime(2026, 12, 2, tzinfo=UTC),
        caller_arn=None,
        regions=REGIONS,
        sections=(Section("iam", True), *(readable if sections is None else sections)),
        roles=(role,),
        consumers=consumers,
    )


def _plan(inventory: Inventory) -> Plan:
    finding = Finding(
        rule_id="AMS-ROLE-001",
        title="No AIModelShare per-deployment roles",
        severity="medium",
        area="roles",
        outcome=Outcome.FAIL,
        resource=f"role/{LEGACY}",
        resource_arn=LEGACY_ARN,
        message="legacy",
        remediation="",
    )
    return make_plan([finding], AuditContext(inventory=inventory))


def _retires(plan: Plan) -> bool:
    return any(isinstance(a, EmptyRole | DeleteRole) and a.role.name == LEGACY for a in plan.actions)


def _why_kept(plan: Plan) -> str:
    return plan.not_fixable.get(("AMS-ROLE-001", f"role/{LEGACY}"), "")


# --- the registry itself ----------------------------------------------------------------------------


def test_the_registry_is_well_formed() -> None:
    names = [kind.name for kind in CONSUMER_KINDS]
    assert len(set(names)) == len(names)
    for kind in CONSUMER_KINDS:
        assert consumer_kind(kind.name) is kind
        assert kind.permissions
        assert all(":" in p for p in kind.permissions)
        assert (kind.repoint is None) != (kind.blocks_because is None), kind.name
    with pytest.raises(KeyError, match="no consumer kind 'batch'"):
        consumer_kind("batch")
    with pytest.raises(ValueError, match="either a repoint or why it blocks"):
        dataclasses.replace(consumer_kind("ecs"), blocks_because=None)


def test_read_permissions_help_and_fix_policy_are_derived_from_the_registry() -> None:
    """One place per fact: what collection reads (the README's and the CI role's policy, tested
    against ``READ_PERMISSIONS`` elsewhere), ``--aws-region``'s help, and what ``--fix`` may do."""
    assert set(read_permissions()) <= set(READ_PERMISSIONS)
    assert {p for kind in CONSUMER_KINDS for p in kind.permissions} == set(read_permissions())
    titles = kind_titles()
    assert all(kind.title in titles for kind in CONSUMER_KINDS)
    policy_actions = {a for s in fix_policy()["Statement"] for a in s["Action"]}
    for kind in CONSUMER_KINDS:
        if kind.repoint is None:
            continue
        assert set(kind.repoint.permissions) <= set(fix_actions()), kind.name
        assert set(kind.repoint.permissions) <= policy_actions, kind.name
        for resource, arns in kind.repoint.write_scopes:
            assert write_scopes(ACCOUNT)[resource] == tuple(a.format(account=ACCOUNT) for a in arns)


def test_the_help_lists_every_kind(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--help")
    text = " ".join(result.stdout.str().split())
    assert f"consumers of roles ({kind_titles()}) are read" in text, text


def test_the_readme_describes_every_kind_as_registered() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    rows = [
        f"| `{k.name}` | {k.label} | {k.role} | "
        + (f"re-points it: {k.repoint.how} |" if k.repoint else f"keeps the role: {k.blocks_because} |")
        for k in CONSUMER_KINDS
    ]
    table = readme.split("| kind | what is read | the role | `--fix` |\n| --- | --- | --- | --- |\n", 1)[1]
    assert table.split("\n\n", 1)[0].splitlines() == rows
    assert f"regions whose consumers of roles ({kind_titles()}) are read" in readme


def test_the_escalation_targets_name_registered_kinds() -> None:
    """The escalation analysis reads some kinds as targets (a function to update, an instance to
    start): each is a kind the inventory reads, so its section can say whether it was read."""
    from ams_iam_audit.analysis.catalogue import RESOURCE_TARGETS

    unregistered = {
        kind: target.consumer_kind
        for kind, target in RESOURCE_TARGETS.items()
        if target.consumer_kind not in {k.name for k in CONSUMER_KINDS}
    }
    assert not unregistered, f"escalation targets held by no registered consumer kind: {unregistered}"


def test_every_repointable_kind_has_a_repointer_and_no_other() -> None:
    assert set(consumer_ops.REPOINTERS) == repointable() == consumer_ops.REPOINTABLE
    assert set(consumer_ops.PERMISSIONS) == repointable()


# --- read, in every region --------------------------------------------------------------------------


def test_every_kind_is_read_in_every_audited_region(aws: Account) -> None:
    inventory = _collect(aws.url, REGIONS)
    for kind in CONSUMER_KINDS:
        for region in REGIONS:
            section = inventory.section(kind.section(region))
            assert section is not None, (kind.name, region)
            assert section.readable, section
    assert all(s.readable for s in inventory.consumer_sections)
    assert {s.name for s in inventory.consumer_sections} == {k.section(r) for k in CONSUMER_KINDS for r in REGIONS}


@KINDS
def test_a_kind_denied_is_unreadable_and_keeps_every_legacy_role(aws: Account, kind: ConsumerKind) -> None:
    """Every call of the kind's service refused (the request is signed for the service the kind is
    named after): its section is unreadable naming the kind's permissions, the other kinds are read,
    AMS-ROLE-001's evidence says the consumers are incomplete, and --fix retires nothing."""
    aws.role(LEGACY, TRUST)

    def of_kind(request: Request) -> bool:
        return request.service == kind.name

    with proxy_to(aws.url, Deny("json", of_kind)) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.denied, f"no request was signed for {kind.name}"
    section = inventory.section(kind.section("us-east-1"))
    assert section is not None
    assert not section.readable
    assert section.permission == ", ".join(kind.permissions)
    assert section in inventory.consumer_sections
    others = [s for s in inventory.consumer_sections if s.name != section.name]
    assert others
    assert all(s.readable for s in others), others
    plan = _plan(inventory)
    assert not _retires(plan)
    assert "consumers could not be read everywhere" in _why_kept(plan)
    assert section.name in _why_kept(plan)


# --- snapshotted --------------------------------------------------------------------------------------


def test_every_kind_survives_a_snapshot(tmp_path: Path) -> None:
    consumers = tuple(_consumer(kind, region) for kind in CONSUMER_KINDS for region in REGIONS)
    ecs = dataclasses.replace(_consumer(consumer_kind("ecs")), via="taskRoleArn", services=("c1/predict",))
    inventory = _inventory(*consumers, ecs)
    save_snapshot(inventory, tmp_path / "s.json")
    loaded = load_snapshot(tmp_path / "s.json")
    assert loaded.consumers == inventory.consumers
    assert loaded.consumer_sections == inventory.consumer_sections
    assert {c.kind for c in loaded.consumers} == {k.name for k in CONSUMER_KINDS}


@KINDS
def test_a_snapshot_without_a_kind_keeps_every_legacy_role(tmp_path: Path, kind: ConsumerKind) -> None:
    """A snapshot written before ``kind`` was read has no section for it: the kind is unread there,
    never taken for "no consumer"."""
    inventory = _inventory()
    save_snapshot(inventory, tmp_path / "s.json")
    body = json.loads((tmp_path / "s.json").read_text())
    body["sections"] = [s for s in body["sections"] if not s["name"].startswith(f"{kind.name}:")]
    (tmp_path / "old.json").write_text(json.dumps(body))
    loaded = load_snapshot(tmp_path / "old.json")
    gaps = [s for s in loaded.consumer_sections if not s.readable]
    assert {s.name for s in gaps} == {kind.section(r) for r in REGIONS}
    assert all(s.permission == ", ".join(kind.permissions) for s in gaps)
    assert not _retires(_plan(loaded))
    assert _plan(_inventory()).actions, "the complete inventory retires the role: the test can fail"


def test_a_gaad_file_names_every_kinds_permissions(tmp_path: Path) -> None:
    (tmp_path / "gaad.json").write_text(json.dumps({"RoleDetailList": [], "UserDetailList": []}))
    with pytest.raises(Exception, match="names no customer account"):
        load_snapshot(tmp_path / "gaad.json")
    role = {
        "RoleName": LEGACY,
        "Arn": LEGACY_ARN,
        "Path": "/",
        "RoleId": "AROAXXXXXXXXXXXXXXXXX",
        "CreateDate": "2024-01-01T00:00:00Z",
        "AssumeRolePolicyDocument": TRUST,
    }
    (tmp_path / "gaad.json").write_text(json.dumps({"RoleDetailList": [role]}))
    loaded = load_snapshot(tmp_path / "gaad.json")
    (section,) = loaded.consumer_sections
    assert not section.readable
    assert section.permission is not None
    assert set(section.permission.split(", ")) == set(read_permissions())


# --- re-pointable, or blocking ------------------------------------------------------------------------


@KINDS
def test_a_kind_is_repointed_or_keeps_the_role(kind: ConsumerKind) -> None:
    consumer = _consumer(kind)
    plan = _plan(_inventory(consumer))
    if kind.repoint is not None:
        assert [a.consumer for a in plan.actions if isinstance(a, Repoint)] == [consumer]
        assert _retires(plan)
        assert consumer_ops.repoint_calls(consumer, LEGACY_ARN, "arn:aws:iam::123456789012:role/other")
        return
    assert not _retires(plan), plan.actions
    assert not [a for a in plan.actions if isinstance(a, Repoint)]
    assert f"used by {kind.name} {consumer.name} (us-east-1), which --fix cannot move" in _why_kept(plan)
    with pytest.raises(consumer_ops.RepointError, match="cannot move this kind") as refused:
        consumer_ops.repoint_calls(consumer, LEGACY_ARN, "arn:aws:iam::123456789012:role/other")
    assert str(kind.blocks_because) in str(refused.value)


# --- ECS task definitions and services, against moto ---------------------------------------------------


def _ecs_account(aws: Account) -> tuple[str, str]:
    """A service running revision 1 of ``predict`` (task role: the legacy role; execution role:
    ``ecs-exec``), deregistered since; revision 2 without roles; an unused inactive definition."""
    task_role, exec_role = aws.role(LEGACY, TRUST), aws.role("ecs-exec", TRUST)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="models")
    container: list[ContainerDefinitionTypeDef] = [{"name": "app", "image": "predict:latest", "memory": 256}]
    first = ecs.register_task_definition(
        family="predict", taskRoleArn=task_role, executionRoleArn=exec_role, containerDefinitions=container
    )["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="models", serviceName="predict-api", taskDefinition=first, desiredCount=1)
    ecs.register_task_definition(family="predict", containerDefinitions=container)
    ecs.deregister_task_definition(taskDefinition=first)
    gone = ecs.register_task_definition(family="old", taskRoleArn=task_role, containerDefinitions=container)
    ecs.deregister_task_definition(taskDefinition=gone["taskDefinition"]["taskDefinitionArn"])
    return first, exec_role


def test_ecs_task_definitions_run_by_services_are_read_even_when_inactive(aws: Account) -> None:
    first, exec_role = _ecs_account(aws)
    inventory = _collect(aws.url)
    ecs = [c for c in inventory.consumers if c.kind == "ecs"]
    assert [(c.name, c.arn, c.role_arn, c.via, c.services) for c in ecs] == [
        ("predict:1 (task role)", first, LEGACY_ARN, "taskRoleArn", ("models/predict-api",)),
        ("predict:1 (execution role)", first, exec_role, "executionRoleArn", ("models/predict-api",)),
    ]
    assert inventory.consumers_by_role_arn[LEGACY_ARN] == (ecs[0],)


def test_a_running_task_s_definition_and_role_override_are_read(aws: Account) -> None:
    """A standalone task (RunTask) of a deregistered revision, started with other roles than its
    definition's: the definition is read although INACTIVE and no service runs it, and each role
    override is a consumer of its own."""
    legacy, other = aws.role(LEGACY, TRUST), aws.role("ecs-exec", TRUST)
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="batch")
    container: list[ContainerDefinitionTypeDef] = [{"name": "app", "image": "x", "memory": 128}]
    arn = ecs.register_task_definition(family="nightly", executionRoleArn=other, containerDefinitions=container)[
        "taskDefinition"
    ]["taskDefinitionArn"]
    task = ecs.run_task(
        cluster="batch",
        taskDefinition=arn,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
        overrides={"taskRoleArn": legacy, "executionRoleArn": other},
    )["tasks"][0]["taskArn"]
    ecs.deregister_task_definition(taskDefinition=arn)
    inventory = _collect(aws.url)
    ecs_consumers = {(c.name, c.arn, c.role_arn, c.via) for c in inventory.consumers if c.kind == "ecs"}
    task_id = task.rsplit("/", 1)[-1]
    assert ecs_consumers == {
        ("nightly:1 (execution role)", arn, other, "executionRoleArn"),
        (f"task batch/{task_id} (task role override)", task, legacy, "overrides.taskRoleArn"),
        (f"task batch/{task_id} (execution role override)", task, other, "overrides.executionRoleArn"),
    }
    plan = _plan(inventory)
    assert not _retires(plan)
    assert f"used by ecs task batch/{task_id} (task role override) (us-east-1)" in _why_kept(plan)


def test_ecs_reads_active_definitions_and_a_role_given_by_name(aws: Account) -> None:
    aws.role(LEGACY, TRUST)
    container: list[ContainerDefinitionTypeDef] = [{"name": "app", "image": "x", "memory": 128}]
    aws.client("ecs", "eu-west-1").register_task_definition(
        family="train", taskRoleArn=LEGACY, containerDefinitions=container
    )
    inventory = _collect(aws.url, REGIONS)
    (train,) = [c for c in inventory.consumers if c.kind == "ecs"]
    assert (train.region, train.name, train.role_arn, train.services) == (
        "eu-west-1",
        "train:1 (task role)",
        LEGACY_ARN,
        (),
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["taskDefinition"].pop("family"), "the task definition has no family"),
        (lambda d: d["taskDefinition"].update(revision="1"), "revision is a str"),
        (lambda d: d["taskDefinition"].update(taskRoleArn=["r"]), "a role field is not text"),
        (lambda d: d.update(taskDefinition=["a", "list"]), "MalformedResponse calling ecs:DescribeTaskDefinition"),
    ],
    ids=["no-family", "revision-text", "role-list", "not-an-object"],
)
def test_a_malformed_task_definition_makes_the_region_unreadable(aws: Account, change: Any, expected: str) -> None:
    _ecs_account(aws)
    with proxy_to(aws.url, json_answer(is_target("DescribeTaskDefinition"), change)) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = inventory.section("ecs:us-east-1")
    assert section is not None
    assert not section.readable
    assert section.error is not None
    assert expected in section.error, section.error
    assert not [c for c in inventory.consumers if c.kind == "ecs"]


def test_a_malformed_task_definition_never_quotes_its_containers(aws: Account) -> None:
    """A task definition's answer holds its containers' environment: an error about it names the
    definition and the field, and quotes nothing of it."""
    secret = "Zq8vN3xK1pW7rT5yL2mB9cD4fG6hJ0sA"
    aws.client("ecs").register_task_definition(
        family="leaky",
        taskRoleArn=aws.role(LEGACY, TRUST),
        containerDefinitions=[
            {"name": "app", "image": "x", "memory": 128, "environment": [{"name": "DB_PASSWORD", "value": secret}]}
        ],
    )
    fault = json_answer(is_target("DescribeTaskDefinition"), lambda d: d["taskDefinition"].pop("family"))
    with proxy_to(aws.url, fault) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = inventory.section("ecs:us-east-1")
    assert section is not None
    assert "task-definition/leaky:1: the task definition has no family" in str(section.error)
    assert secret not in str(section.error)
    assert "DB_PASSWORD" not in str(section.error)


@pytest.mark.parametrize("operation", ["ListClusters", "ListServices", "ListTasks", "ListTaskDefinitions"])
def test_an_ecs_list_repeating_its_token_makes_the_region_unreadable(aws: Account, operation: str) -> None:
    _ecs_account(aws)
    with proxy_to(aws.url, json_answer(is_target(operation), lambda d: d.update(nextToken="again"))) as proxy:
        inventory = _collect(proxy.url)
    assert proxy.faulted
    section = inventory.section("ecs:us-east-1")
    assert section is not None
    assert not section.readable
    assert f"InconsistentPaging calling ecs:{operation}" in str(section.error)
    assert not _retires(_plan(inventory))


def test_a_service_ecs_could_not_describe_makes_the_region_unreadable(aws: Account) -> None:
    """DescribeServices answers a service it could not describe in ``failures``: only a service
    deleted in between (MISSING) may be passed over; any other failure could hide a task definition."""
    _ecs_account(aws)

    def fail(data: dict[str, Any]) -> None:
        data["failures"] = [{"arn": data["services"][0]["serviceArn"], "reason": "INTERNAL"}]
        data["services"] = []

    def missing(data: dict[str, Any]) -> None:
        data["failures"] = [{"arn": "arn:aws:ecs:us-east-1:123456789012:service/models/gone", "reason": "MISSING"}]

    assert _collect(aws.url).readable("ecs:us-east-1")
    with proxy_to(aws.url, json_answer(is_target("DescribeServices"), fail)) as proxy:
        failed = _collect(proxy.url)
    section = failed.section("ecs:us-east-1")
    assert section is not None
    assert not section.readable
    assert section.error is not None
    assert "INTERNAL" in section.error
    with proxy_to(aws.url, json_answer(is_target("DescribeServices"), missing)) as proxy:
        passed_over = _collect(proxy.url)
    assert passed_over.readable("ecs:us-east-1")
    assert {c.name for c in passed_over.consumers if c.kind == "ecs"} == {
        "predict:1 (task role)",
        "predict:1 (execution role)",
    }


# --- EC2 instance profiles, against moto --------------------------------------------------------------


def _instance_with(aws: Account, role: str) -> str:
    aws.iam.create_instance_profile(InstanceProfileName=f"{role}-profile")
    aws.iam.add_role_to_instance_profile(InstanceProfileName=f"{role}-profile", RoleName=role)
    answer = aws.client("ec2").run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, IamInstanceProfile={"Name": f"{role}-profile"}
    )
    return str(answer["Instances"][0]["InstanceId"])


def test_an_instance_uses_the_role_its_profile_holds(aws: Account) -> None:
    aws.role(LEGACY, TRUST)
    instance = _instance_with(aws, LEGACY)
    aws.client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)  # no profile: no consumer
    inventory = _collect(aws.url)
    (ec2,) = [c for c in inventory.consumers if c.kind == "ec2"]
    assert (ec2.name, ec2.role_arn, ec2.via) == (
        instance,
        LEGACY_ARN,
        f"arn:aws:iam::{ACCOUNT}:instance-profile/{LEGACY}-profile",
    )


# --- end to end: --fix keeps a role an ECS task or an EC2 instance uses ---------------------------------


@pytest.mark.parametrize("kind", ["ecs", "ec2"])
def test_fix_keeps_a_legacy_role_a_blocking_kind_uses(pytester: pytest.Pytester, aws: Account, kind: str) -> None:
    if kind == "ecs":
        _ecs_account(aws)
    else:
        aws.role(LEGACY, TRUST)
        _instance_with(aws, LEGACY)
    result = audit_at(pytester, aws.url, "--fix", "-k", "AMS-ROLE-001")
    finding = result.finding("AMS-ROLE-001", f"role/{LEGACY}")
    assert finding["outcome"] == "fail", finding
    consumers = finding["evidence"]["consumers"]
    assert [c["kind"] for c in consumers] == [kind], consumers
    assert finding["evidence"]["consumers_complete"] is True
    assert LEGACY in [r["RoleName"] for r in aws.iam.list_roles()["Roles"]]
    assert "which --fix cannot move to another role" in result.stdout + json.dumps(result.document), result.stdout
