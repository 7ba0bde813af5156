"""IAM policy documents: parsing, normalisation, canonical form and hash.

AWS accepts one policy in many shapes: ``Statement`` as an object or a list, ``Action`` as a string or
a list, action names in any case, documents URL-encoded (as the IAM API returns them). Everything
downstream works on :class:`PolicyDocument`, where each of those shapes has been reduced to one.

The canonical form is *semantic*: two documents that grant the same permissions in another order or
shape (``"s3:GetObject"`` vs ``["s3:getobject"]``, reordered statements or lists, a changed ``Sid``)
have the same canonical JSON and the same :func:`policy_hash`. This is what the refactored library's
``canonical_policy_doc`` should have been: its version only sorted keys, so reshaping a document
created a needless new policy version.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from ..jsonio import POLICY_MAX_DEPTH, nesting_error

__all__ = [
    "PolicyDocument",
    "PolicyParseError",
    "Statement",
    "canonical_policy_doc",
    "decode_policy",
    "parse_policy",
    "policy_hash",
]


class PolicyParseError(ValueError):
    """A policy document that AWS itself would reject, or that is not a policy at all."""


def _as_list(value: Any, field: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise PolicyParseError(f"{where}: {field} must be a string or a list of strings, got {value!r:.80}")


def _principal(value: Any, field: str, where: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """``"*"`` becomes ``(("AWS", ("*",)),)``, which is what AWS means by it."""
    if value is None:
        return None
    if value == "*":
        return (("AWS", ("*",)),)
    if isinstance(value, Mapping):
        items = []
        for kind, ids in value.items():
            items.append((str(kind), tuple(sorted(set(_as_list(ids, f"{field}.{kind}", where))))))
        return tuple(sorted(items))
    raise PolicyParseError(f'{where}: {field} must be "*" or an object, got {value!r:.80}')


def _conditions(value: Any, where: str) -> tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise PolicyParseError(f"{where}: Condition must be an object, got {value!r:.80}")
    ops = []
    for op, block in value.items():
        if not isinstance(block, Mapping):
            raise PolicyParseError(f"{where}: Condition.{op} must be an object, got {block!r:.80}")
        keys = []
        for key, raw in block.items():
            vals = raw if isinstance(raw, list) else [raw]
            # Condition keys are case-insensitive in AWS; values keep their case (most operators are
            # case-sensitive). Booleans and numbers arrive as JSON scalars: compare their text.
            keys.append((str(key).lower(), tuple(sorted({_scalar_text(v) for v in vals}))))
        ops.append((str(op), tuple(sorted(keys))))
    return tuple(sorted(ops))


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Statement:
    """One statement, normalised. ``actions``/``not_actions`` are lowercase and sorted; exactly one of
    each pair (``actions``/``not_actions``, ``resources``/``not_resources``) is set, as AWS requires
    (trust policies carry no resource, so both resource fields may be ``None`` there); at most one of
    ``principal``/``not_principal`` (identity policies have neither)."""

    index: int
    sid: str | None
    effect: str
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principal: tuple[tuple[str, tuple[str, ...]], ...] | None
    not_principal: tuple[tuple[str, tuple[str, ...]], ...] | None
    conditions: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def is_allow(self) -> bool:
        return self.effect == "Allow"

    @property
    def condition_keys(self) -> frozenset[str]:
        """Lowercase condition keys used by the statement, whatever their operator."""
        return frozenset(key for _, block in self.conditions for key, _ in block)

    def canonical(self) -> dict[str, Any]:
        """The statement's semantic content as plain JSON (no ``Sid``, no index)."""
        out: dict[str, Any] = {"Effect": self.effect}
        for name, value in (
            ("Action", self.actions),
            ("NotAction", self.not_actions),
            ("Resource", self.resources),
            ("NotResource", self.not_resources),
        ):
            if value is not None:
                out[name] = list(value)
        for name, principal in (("Principal", self.principal), ("NotPrincipal", self.not_principal)):
            if principal is not None:
                out[name] = {kind: list(ids) for kind, ids in principal}
        if self.conditions:
            out["Condition"] = {op: {k: list(v) for k, v in block} for op, block in self.conditions}
        return out


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed policy. ``raw`` is the document as it was given (after URL-decoding), kept for
    evidence; ``statements`` are normalised."""

    version: str | None
    statements: tuple[Statement, ...]
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @cached_property
    def canonical_json(self) -> str:
        statements = sorted({json.dumps(s.canonical(), sort_keys=True) for s in self.statements})
        body = {"Version": self.version, "Statement": [json.loads(s) for s in statements]}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json.encode()).hexdigest()

    def may_allow(self, services: str | Iterable[str]) -> bool:
        """Whether an Allow statement may allow an action of ``services`` (service prefixes such as
        ``"s3"``, or several; any case). An over-estimate read from the text alone, before any action
        is expanded: a ``NotAction`` may, so may an action without a service part (``*``,
        ``s*Object``), and so may one whose service part, as a wildcard pattern, matches (``S*:Get*``,
        ``s3:*``). ``False`` means certainly not: rules use it to leave out, at collection, documents
        that hold nothing they judge. Raises ``ValueError`` for no service at all (which would leave
        out everything)."""
        wanted = tuple(s.strip().lower() for s in ((services,) if isinstance(services, str) else services))
        if not wanted or not all(wanted):
            raise ValueError(f"may_allow: name the services to look for, got {services!r}")
        for statement in self.statements:
            if not statement.is_allow:
                continue
            if statement.actions is None:
                return True
            for action in statement.actions:
                service, colon, _ = action.partition(":")
                if not colon or any(fnmatch.fnmatchcase(s, service) for s in wanted):
                    return True
        return False


def decode_policy(document: str | bytes | Mapping[str, Any], where: str = "policy") -> Mapping[str, Any]:
    """A policy as a JSON mapping, from a mapping, JSON text (str or UTF-8 bytes) or URL-encoded JSON
    text. Anything else, or a document nested deeper than ``POLICY_MAX_DEPTH``, is a
    :class:`PolicyParseError` naming ``where``."""
    if isinstance(document, Mapping):
        if _depth_exceeds(document, POLICY_MAX_DEPTH):
            raise PolicyParseError(f"{where}: nested more than {POLICY_MAX_DEPTH} levels deep (arrays and objects)")
        return document
    if isinstance(document, bytes):
        try:
            document = document.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PolicyParseError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not isinstance(document, str):
        raise PolicyParseError(f"{where}: a policy document must be a JSON object, got {type(document).__name__}")
    stripped = document.lstrip()
    if stripped.startswith("%"):
        # The IAM API returns documents URL-encoded (RFC 3986); raw exports often keep them so.
        stripped = unquote(stripped)
    if (deep := nesting_error(stripped, POLICY_MAX_DEPTH)) is not None:
        raise PolicyParseError(f"{where}: {deep}")
    try:
        loaded = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise PolicyParseError(f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(loaded, Mapping):
        raise PolicyParseError(f"{where}: a policy document must be a JSON object, got {type(loaded).__name__}")
    return loaded


def _depth_exceeds(value: Any, limit: int) -> bool:
    """``value`` (already parsed JSON) nests arrays and objects more than ``limit`` deep. Iterative:
    a document built to be deep cannot exhaust the interpreter's stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item if isinstance(item, list | tuple) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _statement(index: int, raw: Any, where: str) -> Statement:
    here = f"{where} Statement[{index}]"
    if not isinstance(raw, Mapping):
        raise PolicyParseError(f"{here}: must be an object, got {raw!r:.80}")
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyParseError(f'{here}: Effect must be "Allow" or "Deny", got {effect!r}')
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyParseError(f"{here}: exactly one of Action and NotAction is required")
    for positive in ("Resource", "Principal"):
        if positive in raw and f"Not{positive}" in raw:
            raise PolicyParseError(f"{here}: {positive} and Not{positive} cannot both be present")

    def actions(field: str) -> tuple[str, ...] | None:
        if field not in raw:
            return None
        return tuple(sorted({a.strip().lower() for a in _as_list(raw[field], field, here)}))

    def resources(field: str) -> tuple[str, ...] | None:
        if field not in raw:
            return None
        return tuple(sorted(set(_as_list(raw[field], field, here))))

    sid = raw.get("Sid")
    return Statement(
        index=index,
        sid=str(sid) if sid not in (None, "") else None,
        effect=str(effect),
        actions=actions("Action"),
        not_actions=actions("NotAction"),
        resources=resources("Resource"),
        not_resources=resources("NotResource"),
        principal=_principal(raw.get("Principal"), "Principal", here),
        not_principal=_principal(raw.get("NotPrincipal"), "NotPrincipal", here),
        conditions=_conditions(raw.get("Condition"), here),
        raw=raw,
    )


def parse_policy(document: str | bytes | Mapping[str, Any], where: str = "policy") -> PolicyDocument:
    """Parse ``document`` (a mapping, JSON text, or URL-encoded JSON text).

    ``where`` names the document in error messages (``"role/x inline policy y"``), so a user can find
    the broken input. Raises :class:`PolicyParseError`.
    """
    raw = decode_policy(document, where)
    body = raw.get("Statement")
    if body is None:
        raise PolicyParseError(f"{where}: has no Statement")
    items: Iterable[Any] = body if isinstance(body, list) else [body]
    statements = tuple(_statement(i, s, where) for i, s in enumerate(items))
    version = raw.get("Version")
    return PolicyDocument(version=str(version) if version is not None else None, statements=statements, raw=raw)


def canonical_policy_doc(policy: str | bytes | Mapping[str, Any] | PolicyDocument) -> str:
    """Canonical JSON of a policy: equal for documents that grant the same thing."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    return doc.canonical_json


def policy_hash(policy: str | bytes | Mapping[str, Any] | PolicyDocument) -> str:
    """sha256 (hex) of :func:`canonical_policy_doc`."""
    doc = policy if isinstance(policy, PolicyDocument) else parse_policy(policy)
    return doc.sha256
