"""The audit's own identity in CI: its read-only policy and the role a CI job assumes to run it.

The audit never needs to write: :func:`read_policy` is exactly what collection reads
(``inventory.collect.READ_PERMISSIONS``, the one list of them), printed by
``ams-iam-audit read-policy``. :func:`audit_role_template` wraps it in a CloudFormation template of
a role that a GitHub Actions workflow assumes through OIDC (no stored keys), trusted only for one
repository's branch or environment, printed by ``ams-iam-audit audit-role --github-repo OWNER/REPO``
(with ``--reach-accounts``, that role may also list the organization's accounts and assume the audit
role in each). :func:`member_role_template` is the same read-only role for every other audited account,
trusted only by the audit role of the account the audit runs from (``audit-role --trusted-account ID``,
deployed in every account, e.g. by a CloudFormation StackSet), for ``--aws-org-role ams-iam-audit-readonly``.
The role's name is the tool's, not the library's: the audit runs as its own principal, never as the
AIModelShare execution role it judges. ``--fix`` needs more (``ams-iam-audit fix-policy``): give it a
separate role, assumed only by the job an operator starts.
"""

from __future__ import annotations

import re
from typing import Any

from .accounts import ORGANIZATION_PERMISSIONS
from .aws import is_account_id
from .inventory.collect import READ_PERMISSIONS

__all__ = [
    "AUDIT_ROLE_NAME",
    "GITHUB_OIDC_HOST",
    "audit_role_template",
    "member_role_template",
    "reach_accounts_policy",
    "read_policy",
]

AUDIT_ROLE_NAME = "ams-iam-audit-readonly"
GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_REF = re.compile(r"[A-Za-z0-9._/-]{1,200}")


def read_policy() -> dict[str, Any]:
    """The read-only policy the audit needs: every action collection calls, on ``*`` (they are
    List/Get/Describe calls, most of which take no resource)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AmsIamAuditRead", "Effect": "Allow", "Action": sorted(READ_PERMISSIONS), "Resource": "*"}
        ],
    }


def reach_accounts_policy() -> dict[str, Any]:
    """What the audit role needs beyond reading its own account to audit several (``--aws-org``,
    ``--aws-accounts``): list the organization's accounts, and assume the audit role, by its name,
    in any account (each account's own trust decides whether it may)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AmsIamAuditListAccounts",
                "Effect": "Allow",
                "Action": list(ORGANIZATION_PERMISSIONS),
                "Resource": "*",
            },
            {
                "Sid": "AmsIamAuditReachAccounts",
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::*:role/{AUDIT_ROLE_NAME}"},
            },
        ],
    }


def member_role_template(audit_account_id: str) -> dict[str, Any]:
    """A CloudFormation template for every account a run of several audits: :data:`AUDIT_ROLE_NAME`
    with :func:`read_policy`, assumable (``sts:AssumeRole``) only by the role of that name in
    ``audit_account_id``, the account the audit runs from. Trusting the account's root with a
    condition on the principal's ARN, rather than naming the role as principal, keeps the trust valid
    when the audit role is re-created. Raises ``ValueError`` when the id is not 12 digits."""
    if not is_account_id(audit_account_id):
        raise ValueError(f"--trusted-account {audit_account_id!r}: not an account id (12 digits)")
    auditor = f"arn:${{AWS::Partition}}:iam::{audit_account_id}:role/{AUDIT_ROLE_NAME}"
    trust = {
        "Effect": "Allow",
        "Principal": {"AWS": {"Fn::Sub": f"arn:${{AWS::Partition}}:iam::{audit_account_id}:root"}},
        "Action": "sts:AssumeRole",
        "Condition": {"ArnEquals": {"aws:PrincipalArn": {"Fn::Sub": auditor}}},
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Read-only ams-iam-audit role, assumed by the audit role of account {audit_account_id}",
        "Resources": {"AuditRole": _audit_role(trust, reach_accounts=False)},
        "Outputs": {"AuditRoleArn": {"Value": {"Fn::GetAtt": ["AuditRole", "Arn"]}}},
    }


def _audit_role(trust: dict[str, Any], *, reach_accounts: bool) -> dict[str, Any]:
    """The ``AWS::IAM::Role`` resource of :data:`AUDIT_ROLE_NAME`: one ``trust`` statement, the read
    policy, and (``reach_accounts``) :func:`reach_accounts_policy`."""
    policies = [{"PolicyName": "ams-iam-audit-read", "PolicyDocument": read_policy()}]
    if reach_accounts:
        policies.append({"PolicyName": "ams-iam-audit-reach-accounts", "PolicyDocument": reach_accounts_policy()})
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": AUDIT_ROLE_NAME,
            "Description": "ams-iam-audit: read-only audit of IAM, S3 grants and the roles' consumers",
            "MaxSessionDuration": 3600,
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
            "Policies": policies,
        },
    }


def audit_role_template(
    github_repository: str,
    *,
    branch: str | None = "main",
    environment: str | None = None,
    reach_accounts: bool = False,
) -> dict[str, Any]:
    """A CloudFormation template: the account's GitHub OIDC provider (created unless its ARN is
    given as the ``OidcProviderArn`` parameter), and :data:`AUDIT_ROLE_NAME` with
    :func:`read_policy`, assumable with ``sts:AssumeRoleWithWebIdentity`` only by workflows of
    ``github_repository`` running on ``branch`` (``repo:OWNER/REPO:ref:refs/heads/BRANCH``) or in the
    deployment ``environment`` (``repo:OWNER/REPO:environment:NAME``). Raises ``ValueError`` naming
    the input that is not a repository, branch or environment name. ``reach_accounts`` adds
    :func:`reach_accounts_policy`, for runs of several accounts from this one."""
    if not _REPOSITORY.fullmatch(github_repository):
        raise ValueError(f"--github-repo {github_repository!r}: expected OWNER/REPO, e.g. example-org/platform-iam")
    if (branch is None) == (environment is None):
        raise ValueError("give exactly one of --branch and --environment: the one ref the role trusts")
    ref = branch if branch is not None else environment
    assert ref is not None
    if not _REF.fullmatch(ref) or ".." in ref:
        raise ValueError(
            f"{'--branch' if branch is not None else '--environment'} {ref!r}: not a branch or environment name"
        )
    subject = f"repo:{github_repository}:" + (
        f"ref:refs/heads/{branch}" if branch is not None else f"environment:{environment}"
    )
    trust = {
        "Effect": "Allow",
        "Principal": {
            "Federated": {"Fn::If": ["CreateOidcProvider", {"Ref": "GitHubOidcProvider"}, {"Ref": "OidcProviderArn"}]}
        },
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {
            "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com", f"{GITHUB_OIDC_HOST}:sub": subject}
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"Read-only ams-iam-audit role, assumed by GitHub Actions of {github_repository} (OIDC)",
        "Parameters": {
            "OidcProviderArn": {
                "Type": "String",
                "Default": "",
                "Description": "ARN of the account's existing GitHub OIDC provider; empty: create one",
            }
        },
        "Conditions": {"CreateOidcProvider": {"Fn::Equals": [{"Ref": "OidcProviderArn"}, ""]}},
        "Resources": {
            "GitHubOidcProvider": {
                "Type": "AWS::IAM::OIDCProvider",
                "Condition": "CreateOidcProvider",
                "Properties": {"Url": f"https://{GITHUB_OIDC_HOST}", "ClientIdList": ["sts.amazonaws.com"]},
            },
            "AuditRole": _audit_role(trust, reach_accounts=reach_accounts),
        },
        "Outputs": {"AuditRoleArn": {"Value": {"Fn::GetAtt": ["AuditRole", "Arn"]}}},
    }
