"""The consumers of roles, one registered kind each: the one place a kind is described.

A *consumer* is something that acts as a role: a Lambda function (its execution role), a CodeBuild
project (its service role), an ECS task definition (its task and execution roles)... Before ``--fix``
deletes a legacy role it must know every consumer of it, so each kind says here how it is read, what
reading it needs, and whether ``--fix`` can move it to another role. Everything else is derived from
:data:`CONSUMER_KINDS`:

* collection runs each kind's :attr:`~ConsumerKind.read` in every audited region; its section is
  ``<name>:<region>``, unreadable (naming :attr:`~ConsumerKind.permissions`) when the reader fails;
* ``READ_PERMISSIONS`` (the README's read policy and the CI audit role) takes each kind's permissions;
* a GetAccountAuthorizationDetails file has no consumers: its ``consumers`` section names them all;
* :meth:`Inventory.consumer_sections <ams_iam_audit.inventory.Inventory.consumer_sections>` (the gap
  check of AMS-ROLE-001 and of ``--fix``) covers every kind in every audited region, a section missing
  from an inventory (a snapshot written before the kind existed) being unreadable;
* ``--fix`` re-points a consumer only when its kind has a :class:`Repointing` (the code is in
  ``remediate.consumers``, one re-pointer per such kind); a role used by a consumer of any other kind
  is never retired (:attr:`~ConsumerKind.blocks_because` says why);
* ``fix-policy`` takes each :class:`Repointing`'s permissions and write scopes, ``--help`` the names.

Adding a kind: write its reader (``inventory.readers``), add its entry below and, when it can be moved
safely, its re-pointer (``remediate.consumers.REPOINTERS``); ``tests/test_consumer_kinds.py`` checks
each entry is read, snapshotted, gap-checked and either re-pointable or blocking.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from ..aws import AwsClients, CallerIdentity
from . import readers
from .model import REDEPLOY_TAG, Consumer

__all__ = [
    "CONSUMER_KINDS",
    "ConsumerKind",
    "Reader",
    "Repointing",
    "consumer_kind",
    "kind_names",
    "kind_titles",
    "read_permissions",
    "repointable",
]

#: Reads the consumers of one kind in one region of the account ``owner``.
Reader = Callable[[AwsClients, str, CallerIdentity], list[Consumer]]


@dataclass(frozen=True)
class Repointing:
    """How ``--fix`` moves a consumer of a kind to another role (the calls themselves are the kind's
    re-pointer in ``remediate.consumers``).

    ``permissions``: every action it makes, reads included (``iam:PassRole`` for the new role).
    ``write_scopes``: for each resource type it writes to (policy_sentry's ``service:type``), the
    ARNs it may write, ``{account}`` standing for the account: ``fix-policy`` grants no more."""

    how: str
    permissions: tuple[str, ...]
    write_scopes: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class ConsumerKind:
    """One kind of consumer of roles.

    ``name`` is the :attr:`Consumer.kind <ams_iam_audit.inventory.Consumer.kind>` of its records and
    the prefix of its sections (``lambda:us-east-1``); ``title`` the service's name (``--help``);
    ``label`` what is read, in prose; ``role`` which field of it names the role; ``permissions``
    every action its reader calls; ``read`` the reader of one region. ``repoint`` is ``None`` when
    ``--fix`` cannot move it to another role safely: a role it uses then stays, for the reason
    ``blocks_because`` gives (the README's table of kinds shows it). ``role_via_instance_profile``:
    the reader records the instance profile (``Consumer.via``), and collection fills ``role_arn``
    with the role IAM says the profile holds. ``environment_call``: the call whose answer holds its
    environment variables, which the reader classifies (its consumers are then scope ``workload``'s,
    judged by AMS-SECRET-001)."""

    name: str
    title: str
    label: str
    role: str
    permissions: tuple[str, ...]
    read: Reader
    repoint: Repointing | None = None
    blocks_because: str | None = None
    role_via_instance_profile: bool = False
    environment_call: str | None = None

    def __post_init__(self) -> None:
        if (self.repoint is None) == (self.blocks_because is None):
            raise ValueError(f"consumer kind {self.name}: give either a repoint or why it blocks, not both")

    def section(self, region: str) -> str:
        """The name of the section that records whether this kind could be read in ``region``."""
        return f"{self.name}:{region}"


#: Every kind of consumer the inventory reads, in the order collection runs and reports them.
CONSUMER_KINDS: tuple[ConsumerKind, ...] = (
    ConsumerKind(
        name="lambda",
        title="Lambda",
        label="Lambda functions",
        role="the execution role (Role)",
        permissions=("lambda:ListFunctions",),
        read=readers.lambda_consumers,
        environment_call="lambda:ListFunctions",
        repoint=Repointing(
            how="UpdateFunctionConfiguration with the new Role, waiting until the update is in effect",
            permissions=(
                "lambda:GetFunctionConfiguration",
                "lambda:GetFunction",  # the function_updated_v2 waiter
                "lambda:UpdateFunctionConfiguration",
                "iam:PassRole",
            ),
            write_scopes=(("lambda:function", ("arn:aws:lambda:*:{account}:function:*",)),),
        ),
    ),
    ConsumerKind(
        name="codebuild",
        title="CodeBuild",
        label="CodeBuild projects",
        role="the service role (serviceRole)",
        permissions=("codebuild:ListProjects", "codebuild:BatchGetProjects"),
        read=readers.codebuild_consumers,
        environment_call="codebuild:BatchGetProjects",
        repoint=Repointing(
            how="UpdateProject with the new serviceRole",
            permissions=("codebuild:BatchGetProjects", "codebuild:UpdateProject", "iam:PassRole"),
            write_scopes=(("codebuild:project", ("arn:aws:codebuild:*:{account}:project/*",)),),
        ),
    ),
    ConsumerKind(
        name="apigateway",
        title="API Gateway",
        label="API Gateway REST API integrations",
        role="the integration's credentials",
        permissions=("apigateway:GET",),
        read=readers.apigateway_consumers,
        repoint=Repointing(
            how="UpdateIntegration with the new credentials, then a new deployment of every stage of the API "
            f"(each stage tagged {REDEPLOY_TAG} until it is redeployed)",
            # API Gateway's management API is authorised by HTTP verb on the resource path
            permissions=(
                "apigateway:GET",
                "apigateway:PATCH",
                "apigateway:POST",
                "apigateway:PUT",
                "apigateway:DELETE",
                "iam:PassRole",
            ),
            write_scopes=(
                ("apigateway:restapis", ("arn:aws:apigateway:*::/restapis", "arn:aws:apigateway:*::/restapis/*")),
            ),
        ),
    ),
    ConsumerKind(
        name="ecs",
        title="ECS",
        label="ECS task definitions (active, or run by a service or a task) and running tasks",
        role="the task role (taskRoleArn) and the execution role (executionRoleArn), or a task's overrides",
        permissions=(
            "ecs:ListClusters",
            "ecs:ListServices",
            "ecs:DescribeServices",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "ecs:ListTaskDefinitions",
            "ecs:DescribeTaskDefinition",
        ),
        read=readers.ecs_consumers,
        blocks_because=(
            "task definitions are immutable, so moving one means registering a new revision with every field copied "
            "and rolling each service onto it, while scheduled and standalone tasks keep naming the old revision and "
            "their role overrides"
        ),
    ),
    ConsumerKind(
        name="ec2",
        title="EC2",
        label="EC2 instances with an instance profile",
        role="the role of the instance profile (IamInstanceProfile)",
        permissions=("ec2:DescribeInstances",),
        read=readers.ec2_consumers,
        blocks_because="a running instance keeps credentials of its instance profile's role until it is replaced",
        role_via_instance_profile=True,
    ),
    ConsumerKind(
        name="cloudformation",
        title="CloudFormation",
        label="CloudFormation stacks with a service role",
        role="the stack's service role (RoleARN)",
        permissions=("cloudformation:DescribeStacks",),
        read=readers.CLOUDFORMATION.read,
        blocks_because="changing a stack's service role takes a stack update, which may change its resources",
    ),
    ConsumerKind(
        name="glue",
        title="Glue",
        label="Glue development endpoints",
        role="the endpoint's role (RoleArn)",
        permissions=("glue:GetDevEndpoints",),
        read=readers.GLUE.read,
        blocks_because="a development endpoint cannot change its role; it must be re-created",
    ),
    ConsumerKind(
        name="sagemaker",
        title="SageMaker",
        label="SageMaker notebook instances",
        role="the notebook's role (RoleArn)",
        permissions=("sagemaker:ListNotebookInstances", "sagemaker:DescribeNotebookInstance"),
        read=readers.sagemaker_consumers,
        blocks_because="a notebook instance must be stopped to change its role",
    ),
)


@cache
def _by_name() -> dict[str, ConsumerKind]:
    return {kind.name: kind for kind in CONSUMER_KINDS}


def consumer_kind(name: str) -> ConsumerKind:
    """The registered kind ``name``; :class:`KeyError` naming the known ones when there is none."""
    try:
        return _by_name()[name]
    except KeyError:
        raise KeyError(f"no consumer kind {name!r} (known: {', '.join(kind_names())})") from None


def kind_titles() -> str:
    """The registered kinds for prose (``--help``): "Lambda, CodeBuild, ..."."""
    return ", ".join(kind.title for kind in CONSUMER_KINDS)


def kind_names() -> tuple[str, ...]:
    """The names of the registered kinds (the prefixes of their sections)."""
    return tuple(kind.name for kind in CONSUMER_KINDS)


def read_permissions() -> tuple[str, ...]:
    """Every action reading the consumers needs, each once, in registry order."""
    return tuple(dict.fromkeys(p for kind in CONSUMER_KINDS for p in kind.permissions))


def repointable() -> frozenset[str]:
    """The kinds ``--fix`` can move to another role; a role used by any other kind is never retired."""
    return frozenset(kind.name for kind in CONSUMER_KINDS if kind.repoint is not None)
