"""The accounts one run audits, and where each came from.

A run audits one account (``--aws-account ID``) or several: ``--aws-account`` repeated, an accounts
file (``--aws-accounts FILE``, :func:`read_accounts_file`) or every active account of an AWS
Organization (``--aws-org``, :func:`organization_accounts`). Each becomes an :class:`AccountTarget`;
the run reaches each account by assuming ``role_name`` in it (from the caller's own session), except
the caller's own account with no role named.

An accounts file is either text, one account id a line (``#`` starts a comment)::

    # production ML accounts
    111111111111
    222222222222   # the acquired startup

or YAML (``.yml``/``.yaml``), where each account may name its own role and regions and the top level
may give defaults for all::

    role: ams-iam-audit-readonly          # default: --aws-org-role
    regions: [us-east-1]                  # default: --aws-region
    accounts:
      - "111111111111"
      - id: "222222222222"
        role: AuditRole
        regions: [eu-west-1, eu-central-1]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from .aws import (
    DEFAULT_CALL_TIMEOUT,
    AwsAccessError,
    AwsClients,
    CallError,
    call,
    caller_identity,
    is_account_id,
    paged,
)
from .jsonio import InputError, NoAliasYamlLoader, read_text, yaml_error

__all__ = [
    "DEFAULT_ORG_ROLE",
    "ORGANIZATION_PERMISSIONS",
    "REGION_PATTERN",
    "ROLE_NAME_PATTERN",
    "AccountTarget",
    "OrganizationAccounts",
    "OrganizationError",
    "organization_accounts",
    "read_accounts_file",
]

#: The role Organizations creates in every member account it creates (``--aws-org-role``'s default).
DEFAULT_ORG_ROLE = "OrganizationAccountAccessRole"

#: What ``--aws-org`` calls in the management (or a delegated administrator) account, besides the
#: ``sts:AssumeRole`` on each member's role.
ORGANIZATION_PERMISSIONS = ("organizations:DescribeOrganization", "organizations:ListAccounts")

#: An IAM role name: 1-64 of ASCII letters, digits and ``_+=,.@-`` (``\w`` alone would take any script's).
ROLE_NAME_PATTERN = re.compile(r"[\w+=,.@-]{1,64}", re.ASCII)
#: A region as AWS spells them (us-east-1, us-gov-west-1, eu-central-2).
REGION_PATTERN = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]")


@dataclass(frozen=True)
class AccountTarget:
    """One account to audit.

    ``role_name`` is the role the run assumes in the account (``arn:<partition>:iam::<id>:role/<name>``);
    ``None`` means the caller's session is used as it is, which the account guard then holds to
    ``account_id``. ``regions`` empty means the run's ``--aws-region`` (or the session's default).
    ``origin`` says where the account was named (``--aws-account``, ``accounts.yml:3``,
    ``organization o-abc123``), for every message about it.
    """

    account_id: str
    role_name: str | None = None
    regions: tuple[str, ...] = ()
    origin: str = "--aws-account"


# --- accounts files ----------------------------------------------------------------------------------


def read_accounts_file(path: Path, *, role_name: str = DEFAULT_ORG_ROLE) -> tuple[AccountTarget, ...]:
    """The accounts an accounts file names, in its order, each with the role and regions it gives
    (else the file's defaults, else ``role_name`` and no regions). Raises :class:`InputError` naming
    ``FILE:LINE`` and what is wrong: an id that is not 12 digits, an account named twice, an unknown
    key, a role or region that cannot be one, an empty file."""
    path = Path(path)
    text = read_text(path, "--aws-accounts")
    if path.suffix.lower() in (".yml", ".yaml"):
        targets = _from_yaml(path, text, role_name)
    else:
        targets = _from_text(path, text, role_name)
    if not targets:
        raise InputError(f"--aws-accounts {path}: names no account")
    seen: dict[str, str] = {}
    for target in targets:
        if target.account_id in seen:
            raise InputError(
                f"--aws-accounts {target.origin}: account {target.account_id} is already named at "
                f"{seen[target.account_id]}"
            )
        seen[target.account_id] = target.origin
    return tuple(targets)


def _from_text(path: Path, text: str, role_name: str) -> list[AccountTarget]:
    targets = []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        where = f"{path}:{number}"
        if not is_account_id(value):
            raise InputError(f"--aws-accounts {where}: {value[:40]!r} is not an account id (12 digits, one a line)")
        targets.append(AccountTarget(value, role_name, (), where))
    return targets


def _from_yaml(path: Path, text: str, role_name: str) -> list[AccountTarget]:
    try:
        root = yaml.compose(text, Loader=NoAliasYamlLoader)
    except yaml.YAMLError as exc:
        raise InputError(yaml_error(f"--aws-accounts {path}", exc)) from None
    except RecursionError:
        raise InputError(f"--aws-accounts {path}: nested too deeply for an accounts file") from None
    if root is None:
        return []
    where = _where(path, root)
    if not isinstance(root, yaml.MappingNode):
        raise InputError(f"--aws-accounts {where}: expected a mapping with a list named 'accounts'")
    top = _mapping(path, root, {"accounts", "role", "regions"})
    default_role = _role(path, top["role"]) if "role" in top else role_name
    default_regions = _regions(path, top["regions"]) if "regions" in top else ()
    if "accounts" not in top:
        raise InputError(f"--aws-accounts {where}: no list named 'accounts'")
    entries = top["accounts"]
    if not isinstance(entries, yaml.SequenceNode):
        raise InputError(f"--aws-accounts {_where(path, entries)}: 'accounts' must be a list")
    targets = []
    for entry in entries.value:
        at = _where(path, entry)
        if isinstance(entry, yaml.ScalarNode):
            targets.append(AccountTarget(_account_id(path, entry), default_role, default_regions, at))
            continue
        if not isinstance(entry, yaml.MappingNode):
            raise InputError(f"--aws-accounts {at}: an account is an id or a mapping with 'id'")
        fields = _mapping(path, entry, {"id", "role", "regions", "name"})
        if "id" not in fields:
            raise InputError(f"--aws-accounts {at}: the account has no 'id'")
        targets.append(
            AccountTarget(
                _account_id(path, fields["id"]),
                _role(path, fields["role"]) if "role" in fields else default_role,
                _regions(path, fields["regions"]) if "regions" in fields else default_regions,
                at,
            )
        )
    return targets


def _where(path: Path, node: yaml.Node) -> str:
    return f"{path}:{node.start_mark.line + 1}"


def _mapping(path: Path, node: yaml.MappingNode, allowed: set[str]) -> dict[str, yaml.Node]:
    fields: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = key.value if isinstance(key, yaml.ScalarNode) else None
        if name not in allowed:
            raise InputError(
                f"--aws-accounts {_where(path, key)}: unknown key {str(name)[:40]!r} "
                f"(expected {', '.join(sorted(allowed))})"
            )
        if name in fields:
            raise InputError(f"--aws-accounts {_where(path, key)}: {name!r} given twice")
        fields[name] = value
    return fields


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise InputError(f"--aws-accounts {_where(path, node)}: {what} must be a single value")
    return str(node.value)


def _account_id(path: Path, node: yaml.Node) -> str:
    # compose keeps a scalar as written, so an unquoted 012345678901 keeps its leading zero
    value = _scalar(path, node, "an account id").strip()
    if not is_account_id(value):
        raise InputError(f"--aws-accounts {_where(path, node)}: {value[:40]!r} is not an account id (12 digits)")
    return value


def _role(path: Path, node: yaml.Node) -> str:
    value = _scalar(path, node, "a role").strip()
    if not ROLE_NAME_PATTERN.fullmatch(value):
        raise InputError(
            f"--aws-accounts {_where(path, node)}: {value[:70]!r} is not a role name (1-64 of letters, digits, +=,.@_-)"
        )
    return value


def _regions(path: Path, node: yaml.Node) -> tuple[str, ...]:
    values = (
        [node] if isinstance(node, yaml.ScalarNode) else node.value if isinstance(node, yaml.SequenceNode) else None
    )
    if not values:
        raise InputError(f"--aws-accounts {_where(path, node)}: 'regions' must be a region or a list of them")
    regions = []
    for item in values:
        region = _scalar(path, item, "a region").strip()
        if not REGION_PATTERN.fullmatch(region):
            raise InputError(f"--aws-accounts {_where(path, item)}: {region[:40]!r} is not an AWS region")
        regions.append(region)
    return tuple(dict.fromkeys(regions))


# --- organizations -----------------------------------------------------------------------------------


class OrganizationError(RuntimeError):
    """The organization's accounts could not be listed; the message says why and what to do."""


@dataclass(frozen=True)
class OrganizationAccounts:
    """Every account of the caller's organization: ``targets`` the active ones, to audit (the
    caller's own account with no role, read with the caller's session); ``left_out`` the others as
    (account id, name, state), never audited and always said."""

    organization_id: str
    targets: tuple[AccountTarget, ...]
    left_out: tuple[tuple[str, str, str], ...]

    @property
    def summary(self) -> str:
        """One line for the terminal's header: what was listed, what is audited, what is left out."""
        line = f"organization {self.organization_id}: {len(self.targets)} active accounts to audit"
        if self.left_out:
            states = Counter(state.lower() for _, _, state in self.left_out)
            kinds = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
            ids = ", ".join(account for account, _, _ in self.left_out[:10])
            more = f" and {len(self.left_out) - 10} more" if len(self.left_out) > 10 else ""
            line += f"; {len(self.left_out)} left out ({kinds}: {ids}{more})"
        return line


#: Account states Organizations reports for an account that cannot be audited (suspended, being closed,
#: closed); any other state, one unknown today included, is audited rather than silently left out.
_LEFT_OUT_STATES = frozenset({"SUSPENDED", "PENDING_CLOSURE", "CLOSED"})


def organization_accounts(
    session: boto3.Session,
    *,
    role_name: str = DEFAULT_ORG_ROLE,
    endpoint_url: str | None = None,
    call_timeout: float | None = None,
) -> OrganizationAccounts:
    """Every account of the organization ``session``'s caller belongs to, from Organizations
    ``ListAccounts`` (every page), which answers in the management account or in a delegated
    administrator's. Every account becomes a target reached through ``role_name`` (the caller's own
    account through the caller's session) but the suspended, closing and closed ones, which are left
    out and listed; an account in a state not known here is audited, never left out silently. Raises
    :class:`OrganizationError` when the caller is in no organization or may not list it."""
    clients = AwsClients(session, endpoint_url, call_timeout or DEFAULT_CALL_TIMEOUT)
    try:
        caller = caller_identity(session, endpoint_url, call_timeout or DEFAULT_CALL_TIMEOUT).account_id
    except AwsAccessError as exc:
        raise OrganizationError(f"--aws-org: {exc}") from None
    # Organizations has one endpoint (us-east-1 in the commercial partition); boto3 routes it from any region
    client = clients.client("organizations", session.region_name)
    try:
        organization = call(client, "describe_organization").get("Organization", {}).get("Id", "")
        accounts: list[Mapping[str, Any]] = [
            account for page in paged(client, "list_accounts", "Accounts") for account in page.get("Accounts", [])
        ]
    except CallError as exc:
        raise OrganizationError(_organization_error(exc, caller)) from None
    targets = []
    left_out = []
    for account in sorted(accounts, key=lambda a: str(a.get("Id"))):
        account_id = str(account.get("Id", ""))
        state = str(account.get("State") or account.get("Status") or "UNKNOWN")
        if not is_account_id(account_id):
            raise OrganizationError(f"--aws-org: organizations:ListAccounts answered an account id {account_id[:40]!r}")
        if state in _LEFT_OUT_STATES:
            left_out.append((account_id, str(account.get("Name", "")), state))
            continue
        own = account_id == caller
        targets.append(AccountTarget(account_id, None if own else role_name, (), f"organization {organization}"))
    return OrganizationAccounts(str(organization), tuple(targets), tuple(left_out))


def _organization_error(exc: CallError, caller: str) -> str:
    if exc.code == "AWSOrganizationsNotInUseException":
        return f"--aws-org: account {caller} is not in an AWS Organization ({exc.call} says so)"
    if exc.code in ("AccessDeniedException", "AccessDenied"):
        return (
            f"--aws-org: {exc.call} was refused for account {caller}: run from the organization's management "
            f"account or a delegated administrator, with {' and '.join(ORGANIZATION_PERMISSIONS)}"
        )
    return f"--aws-org: {exc}"
