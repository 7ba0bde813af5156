"""pytest-xdist scheduling of a run of several accounts: every case of one account on one worker.

Each worker collects every account's cases (xdist requires the same collection on every worker),
from the snapshots the controller wrote when it read each account once; the scheduler then hands
each worker whole accounts (xdist's ``LoadScopeScheduling``, with the account as the scope), so an
account's cases are judged together, in one process, as a run of that account alone judges them.
Imported only when xdist asks for a scheduler (``pytest_xdist_make_scheduler``).
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

__all__ = ["AccountScheduling", "account_scope"]

#: ``rules/test_users.py::test_x[123456789012:user/alice]``: the account opens the case's id
_ACCOUNT_ID = re.compile(r"\[(\d{12}):")


def account_scope(nodeid: str) -> str:
    """The account of a case of a run of several accounts; any other test is its own module's."""
    match = _ACCOUNT_ID.search(nodeid)
    return match.group(1) if match else nodeid.rsplit("::", 1)[0]


class AccountScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """``--dist loadscope`` with the account as the scope."""

    def _split_scope(self, nodeid: str) -> str:
        return account_scope(nodeid)
