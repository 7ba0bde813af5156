"""Rule metadata and the ``@rule`` decorator that turns a pytest test function into an audit rule.

A rule is a test function in a ``test_<topic>.py`` module::

    @rule(
        id="AMS-USER-001", title="No AIModelShare ephemeral IAM users", severity="high", area="users",
        scope="user", rationale="...", remediation="...",
        controls=Controls(cis=("1.12",), nist=("AC-2(3)",), soc2=("CC6.2",)),
    )
    def test_no_ephemeral_users(user: User, evidence: Evidence) -> None:
        ...
        assert not legacy, "user was created by the legacy library"

``scope`` says what the rule judges; the plugin parametrizes the function over every resource of that
scope (the fixture of the same name hands each one in) with readable, stable ids. An assertion that
fails is a *fail*; any other exception, or a resource that could not be read, is an *error*; an empty
scope is *not applicable*. ``evidence`` records what an auditor needs to see.

A rule that judges only some of its scope says which with ``judges`` (a cheap test of a subject and
the audit context, such as "the document may allow an S3 action") and ``unjudged`` (what the others
hold nothing of). The subjects it leaves out pass in one case, ``[examined]``, that counts them, so an
account of 5,000 unrelated users costs one case, not 5,000. The test must never leave out a subject
the rule would fail or err on; when in doubt (a document that does not parse) it keeps the subject.

The decorator also marks the function with its severity (``-m high``) and area (``-m s3``), and the
plugin makes its id a keyword (``-k AMS-S3-001``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

import pytest

from .scopes import SCOPES

__all__ = ["AREAS", "BUILTIN_AREAS", "RULE_ATTR", "Controls", "Rule", "Severity", "get_rule", "register_area", "rule"]

RULE_ATTR = "__ams_iam_audit_rule__"
_ID_RE = re.compile(r"AMS-[A-Z0-9]+-\d{3}")

#: Areas group rules for selection with ``-m``; each is registered as a marker in audit mode.
AREAS = {
    "users": "IAM users the legacy library created",
    "policies": "managed policies the legacy library created",
    "s3": "S3 grants (identity and bucket policies)",
    "roles": "per-deployment roles the legacy library created",
    "shared_roles": "the refactored library's four shared roles",
    "execution_role": "the STS execution role (AIMODELSHARE_EXECUTION_ROLE_ARN)",
    "privilege": "administrator access and privilege escalation",
    "lint": "policy grammar and semantics (parliament)",
    "secrets": "credentials and secrets in plain text (Lambda and CodeBuild environments)",
    "monitoring": "CloudTrail logging of the account's management events (AssumeRole)",
    "credentials": "the root user, console passwords, MFA and access keys (CIS 1.4 to 1.14)",
    "account": "account-wide IAM settings: a support role and IAM Access Analyzer (CIS 1.17, 1.20)",
}


#: the areas the package defines; :func:`register_area` adds a team's beside them
BUILTIN_AREAS = frozenset(AREAS)
_AREA_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_area(name: str, description: str) -> None:
    """Add the rule area ``name`` (a marker: ``-m name`` selects its rules). Called from a
    ``pytest_ams_iam_audit_register`` hook, before rules are collected. The same area registered
    again with the same description is a no-op; a different one (a built-in above all) raises
    ``ValueError``."""
    if not _AREA_NAME.fullmatch(name):
        raise ValueError(f"area {name!r}: an area is a marker name (lowercase letters, digits, underscores)")
    if name in {s.value for s in Severity}:
        raise ValueError(f"area {name!r}: that is a severity marker")
    if name in AREAS and AREAS[name] != description:
        raise ValueError(f"area {name!r} is defined already ({AREAS[name]}): pick another name")
    AREAS[name] = description


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical … 4 for info: sort by it to put the worst first."""
        return list(Severity).index(self)

    def lowered(self) -> Severity:
        members = list(Severity)
        return members[min(self.rank + 1, len(members) - 1)]


@dataclass(frozen=True)
class Controls:
    """Control ids a rule supports, per framework (CIS AWS Foundations Benchmark v3.0, NIST SP 800-53
    rev. 5, AICPA SOC 2 Trust Services Criteria 2017)."""

    cis: tuple[str, ...] = ()
    nist: tuple[str, ...] = ()
    soc2: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {"cis_aws_foundations": list(self.cis), "nist_800_53": list(self.nist), "soc2": list(self.soc2)}


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    area: str
    scope: str
    rationale: str
    remediation: str
    controls: Controls
    #: narrows the scope: only subjects for which it returns True are judged (see ``scopes.Subject``)
    select: Callable[[Any], bool] | None = field(default=None, compare=False, repr=False)
    select_description: str | None = None
    #: which subjects hold anything the rule judges (``judges(subject, audit)``): a cheap test made at
    #: collection; a subject it says ``False`` for must pass the rule (the tests hold every built-in
    #: rule to that), and passes without a case of its own, counted in one ``examined`` case
    judges: Callable[[Any, Any], bool] | None = field(default=None, compare=False, repr=False)
    #: what the subjects ``judges`` leaves out hold nothing of ("cannot allow an S3 action")
    unjudged: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "severity": self.severity.value,
            "area": self.area,
            "scope": self.scope + (f" ({self.select_description})" if self.select_description else ""),
            "rationale": self.rationale,
            "remediation": self.remediation,
            "controls": self.controls.as_dict(),
        }


F = TypeVar("F", bound=Callable[..., None])


def rule(
    *,
    id: str,
    title: str,
    severity: str,
    area: str,
    scope: str,
    rationale: str,
    remediation: str,
    controls: Controls,
    select: Callable[[Any], bool] | None = None,
    select_description: str | None = None,
    judges: Callable[[Any, Any], bool] | None = None,
    unjudged: str | None = None,
) -> Callable[[F], F]:
    """Declare a test function to be an audit rule. Raises ``ValueError`` on malformed metadata, so
    a broken rule module fails at import rather than producing findings without an id."""
    if not _ID_RE.fullmatch(id):
        raise ValueError(f"rule id {id!r} must look like AMS-<AREA>-NNN")
    if area not in AREAS:
        raise ValueError(f"rule {id}: unknown area {area!r} (known: {', '.join(sorted(AREAS))})")
    if scope not in SCOPES:
        raise ValueError(f"rule {id}: unknown scope {scope!r} (known: {', '.join(sorted(SCOPES))})")
    if not rationale.strip() or not remediation.strip():
        raise ValueError(f"rule {id}: rationale and remediation are required")
    if (judges is None) != (unjudged is None):
        raise ValueError(f"rule {id}: judges and unjudged go together (unjudged says what the others hold nothing of)")
    meta = Rule(
        id=id,
        title=title,
        severity=Severity(severity),
        area=area,
        scope=scope,
        rationale=rationale,
        remediation=remediation,
        controls=controls,
        select=select,
        select_description=select_description,
        judges=judges,
        unjudged=unjudged,
    )

    def decorate(fn: F) -> F:
        setattr(fn, RULE_ATTR, meta)
        marked: F = getattr(pytest.mark, meta.severity.value)(getattr(pytest.mark, area)(fn))
        return marked

    return decorate


def get_rule(obj: object) -> Rule | None:
    found = getattr(obj, RULE_ATTR, None)
    return found if isinstance(found, Rule) else None
