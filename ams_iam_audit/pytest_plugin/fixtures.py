"""The fixtures rules use, registered only in audit mode (so they never shadow a project's own).

* ``inventory``: the account, read-only; ``audit``: the inventory plus the run's settings;
* ``evidence``: what the rule records for the auditor about the resource being judged;
* one fixture per scope (``user``, ``role``, ``managed_policy``, ``identity_policy``,
  ``policy_document``, ``shared_role``, ``execution_role``): the resource being judged. It raises for a
  subject that could not be read (the rule reports an error) and skips for an empty scope (the rule
  is not applicable).

In a run of several accounts every case's parameter is an :class:`AccountCase` (its account, and the
case), and :class:`AccountFixtures` replaces ``audit`` and ``inventory`` with the case's own account's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from ..findings import Evidence
from ..inventory.model import Inventory
from ..scopes import SCOPES, AuditContext, Case, Examined, NotApplicable, NotAssessed, Subject, Unreadable

__all__ = [
    "ACCOUNTS_KEY",
    "CONTEXT_KEY",
    "EVIDENCE_KEY",
    "AccountCase",
    "AccountFixtures",
    "CoverageError",
    "audit",
    "case_context",
    "evidence",
    "inventory",
    "item_account",
    "item_case",
    "new_evidence",
    "own_fixture_names",
    "rule_arguments",
    "scope_fixtures",
    "scope_param",
    "subject_value",
]

CONTEXT_KEY = pytest.StashKey[AuditContext]()
#: a run of several accounts: account id -> its context (absent in a run of one account)
ACCOUNTS_KEY = pytest.StashKey[Mapping[str, AuditContext]]()


@dataclass(frozen=True)
class AccountCase:
    """A rule case's parameter in a run of several accounts: the account it is of, and the case (a
    subject of the account's scope, an :class:`Unreadable`, ...). Its id is ``<account>:<case id>``."""

    account_id: str
    case: Case


def _unwrapped(value: Any) -> Any:
    return value.case if isinstance(value, AccountCase) else value


EVIDENCE_KEY = pytest.StashKey[Evidence]()


class CoverageError(Exception):
    """A rule's subject lies in a part of the account that could not be read."""


@pytest.fixture(scope="session")
def audit(request: pytest.FixtureRequest) -> AuditContext:
    """The inventory plus the run's settings, with AIModelShare ownership worked out."""
    return request.config.stash[CONTEXT_KEY]


@pytest.fixture(scope="session")
def inventory(audit: AuditContext) -> Inventory:
    """The account's inventory (read-only)."""
    return audit.inventory


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Records what an auditor needs to see about the resource being judged."""
    return new_evidence(request.node)


def new_evidence(node: pytest.Item) -> Evidence:
    """A fresh recorder for one rule case, kept where the plugin reads it when the case reports."""
    recorder = Evidence()
    node.stash[EVIDENCE_KEY] = recorder
    return recorder


def subject_value(item: Case) -> Any:
    """The resource a rule case judges: raises for one that could not be read, skips an empty scope.
    An :class:`Examined` case has no one resource: it is handed in as it is, and the plugin passes
    the case without running the rule (``AuditPlugin.pytest_pyfunc_call``, and the light protocol)."""
    if isinstance(item, Unreadable):
        raise CoverageError(f"could not be evaluated: {item.message()}")
    if isinstance(item, NotAssessed):
        raise CoverageError(item.reason)
    if isinstance(item, NotApplicable):
        pytest.skip(f"not applicable: {item.reason}")
    if isinstance(item, Examined):
        return item
    return item.value


def item_case(item: pytest.Item, scope: str) -> Case | None:
    """What a rule case was parametrized with (its scope's subject, an :class:`Unreadable`, ...)."""
    callspec = getattr(item, "callspec", None)
    value = _unwrapped(callspec.params.get(scope)) if callspec is not None else None
    return value if isinstance(value, Subject | Unreadable | NotApplicable | NotAssessed | Examined) else None


def scope_param(item: pytest.Item, scope: str) -> Any:
    """What the case's ``scope`` argument is made from (its subject, or what stands for one)."""
    return _unwrapped(item.callspec.params[scope])  # type: ignore[attr-defined]


def item_account(item: pytest.Item) -> str | None:
    """The account a rule case is of, in a run of several accounts (``None`` in a run of one)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return next((v.account_id for v in callspec.params.values() if isinstance(v, AccountCase)), None)


def case_context(item: pytest.Item, config: pytest.Config) -> AuditContext:
    """The context a rule case is judged in: its account's in a run of several, else the run's."""
    contexts = config.stash.get(ACCOUNTS_KEY, None)
    account = item_account(item) if contexts is not None else None
    if contexts is not None and account is not None and account in contexts:
        return contexts[account]
    return config.stash[CONTEXT_KEY]


def _scope_fixture(request: pytest.FixtureRequest) -> Any:
    return subject_value(_unwrapped(request.param))


for _scope in SCOPES:
    globals()[f"_fixture_{_scope}"] = pytest.fixture(name=_scope)(_scope_fixture)


def scope_fixtures(names: Iterable[str]) -> object:
    """The fixtures of scopes registered at run time (``scopes.register_scope``), as a plugin object
    the plugin registers after the ``pytest_ams_iam_audit_register`` hook: one fixture per scope, the
    same function as the built-in scopes' (so the light protocol treats them alike). pytest finds a
    plugin's fixtures on its class, so the class is made for the names."""
    members = {f"_fixture_{name}": pytest.fixture(name=name)(_scope_fixture) for name in names}
    return type("ScopeFixtures", (), members)()


class AccountFixtures:
    """Registered after this module in a run of several accounts: ``audit`` and ``inventory`` are then
    the case's own account's (function-scoped: one run holds several accounts). A fixture of a
    project's own that asks for them at a wider scope fails with pytest's ScopeMismatch."""

    @pytest.fixture(name="audit")
    def account_audit(self, request: pytest.FixtureRequest) -> AuditContext:
        """The inventory of the case's account plus the run's settings."""
        return case_context(request.node, request.config)

    @pytest.fixture(name="inventory")
    def account_inventory(self, audit: AuditContext) -> Inventory:
        """The case's account's inventory (read-only)."""
        return audit.inventory


def rule_arguments(
    names: Iterable[str], context: AuditContext, evidence: Callable[[], Evidence], subject: Callable[[str], Any]
) -> dict[str, Any] | None:
    """A rule function's arguments, made without pytest's fixture machinery (the light protocol, and
    ``--fix`` re-judging what it changed): ``names`` are the function's fixture names as pytest
    resolved them, ``subject(scope)`` gives the value of a scope argument. ``None`` when a name is
    not one of this module's fixtures (the caller then needs pytest's protocol)."""
    arguments: dict[str, Any] = {}
    for name in names:
        if name == "evidence":
            arguments[name] = evidence()
        elif name == "audit":
            arguments[name] = context
        elif name == "inventory":
            arguments[name] = context.inventory
        elif name in SCOPES:
            arguments[name] = subject(name)
        else:
            return None
    return arguments


def own_fixture_names() -> frozenset[str]:
    """The names of every fixture this module gives rules: the one list the light protocol checks a
    case's fixtures against and ``--fix`` re-judges a rule with."""
    return frozenset({"evidence", "audit", "inventory", *SCOPES})
