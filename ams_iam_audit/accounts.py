"""The accounts one run audits, and where each came from.

A run audits one account (``--aws-account ID``) or several: ``--aws-account`` repeated, an accounts
file (``--aws-accounts FILE``) or every active account of an AWS Organization (``--aws-org``). Each
becomes an :class:`AccountTarget`; the run reaches each account by assuming ``role_name`` in it (from
the caller's own session), except the caller's own account with no role named.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_ORG_ROLE", "AccountTarget"]

#: The role Organizations creates in every member account it creates (``--aws-org-role``'s default).
DEFAULT_ORG_ROLE = "OrganizationAccountAccessRole"


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
