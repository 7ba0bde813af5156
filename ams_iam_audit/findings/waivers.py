"""Waivers: a failing finding a security lead has accepted, with a justification, an owner and an
expiry date. A waived finding is reported as *waived* (pytest's xfail), never hidden; a waiver past
its expiry stops applying and the finding fails again, saying so.

A waiver file is TOML or YAML (by its suffix)::

    # waivers.toml                              # waivers.yaml
    [[waiver]]                                  waiver:
    rule = "AMS-S3-001"                           - rule: AMS-S3-001
    resource = "bucket/aimodelshare-legacy-*"       resource: bucket/aimodelshare-legacy-*
    justification = "read-only archive, INC-42"     justification: read-only archive, INC-42
    owner = "data-platform@example.com"             owner: data-platform@example.com
    expires = 2027-03-31                            expires: 2027-03-31

``rule`` is a rule id, ``resource`` a pattern over finding resources (``*`` and ``?`` as in shell
globs). ``justification`` and ``expires`` are required; the waiver holds through its expiry date
(UTC). A file that cannot be used stops the run before anything is audited, with an error naming the
file and line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml

from ..jsonio import InputError, NoAliasYamlLoader, read_text, yaml_error
from . import Finding, Outcome

__all__ = ["Waiver", "WaiverError", "WaiverUsage", "load_waivers", "waive", "waiver_usage"]

_FIELDS = {"rule", "resource", "justification", "owner", "expires"}
_RULE_ID = re.compile(r"AMS-[A-Z0-9]+-\d{3}")


class WaiverError(ValueError):
    """A waiver file that cannot be used; the message names the file, the line and the problem."""


@dataclass(frozen=True)
class Waiver:
    rule_id: str
    resource: str  # glob over finding resources
    justification: str
    owner: str
    expires: date
    where: str  # "waivers.toml:12", for messages and the report

    def matches(self, finding: Finding) -> bool:
        return finding.rule_id == self.rule_id and fnmatchcase(finding.resource, self.resource)

    def active_on(self, day: date) -> bool:
        return day <= self.expires

    def to_json(self, day: date) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "resource": self.resource,
            "justification": self.justification,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            "status": "active" if self.active_on(day) else "expired",
            "defined_at": self.where,
        }


def _lines_of_entries(text: str, suffix: str) -> list[int]:
    """The line each entry starts on (TOML: its ``[[waiver]]`` header; YAML: its ``-`` item)."""
    if suffix == ".toml":
        return [i for i, line in enumerate(text.splitlines(), 1) if line.strip().startswith("[[waiver]]")]
    root = yaml.compose(text, Loader=NoAliasYamlLoader)
    if isinstance(root, yaml.MappingNode):
        for key, value in root.value:
            if key.value == "waiver" and isinstance(value, yaml.SequenceNode):
                return [item.start_mark.line + 1 for item in value.value]
    return []


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def load_waivers(path: Path) -> tuple[Waiver, ...]:
    """Read and check a waiver file. Raises :class:`WaiverError` naming the file and line."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise WaiverError(f"{path}: a waiver file is .toml, .yaml or .yml")
    try:
        text = read_text(path)
    except InputError as exc:
        raise WaiverError(str(exc)) from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.load(text, Loader=NoAliasYamlLoader)
        lines = _lines_of_entries(text, suffix)
    except tomllib.TOMLDecodeError as exc:
        raise WaiverError(f"{path}: not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise WaiverError(yaml_error(str(path), exc)) from None
    except RecursionError:
        raise WaiverError(f"{path}: nested too deeply for a waiver file") from None
    if data is None:
        return ()
    if not isinstance(data, Mapping) or set(data) - {"waiver"}:
        raise WaiverError(f"{path}: expected only a list named 'waiver' ([[waiver]] tables in TOML)")
    entries = data.get("waiver") or []
    if not isinstance(entries, list):
        raise WaiverError(f"{path}: 'waiver' must be a list of waivers")
    lines = (lines + [0] * len(entries))[: len(entries)]
    return tuple(
        _waiver(entry, f"{path}:{line}" if line else f"{path} (waiver {n})")
        for n, (entry, line) in enumerate(zip(entries, lines, strict=True), 1)
    )


def _waiver(entry: Any, where: str) -> Waiver:
    if not isinstance(entry, Mapping):
        raise WaiverError(f"{where}: a waiver is a table of {', '.join(sorted(_FIELDS))}")
    unknown = set(entry) - _FIELDS
    if unknown:
        raise WaiverError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
    for required in ("rule", "resource", "justification", "expires"):
        value = entry.get(required)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise WaiverError(f"{where}: '{required}' is required")
    rule = str(entry["rule"])
    if not _RULE_ID.fullmatch(rule):
        raise WaiverError(f"{where}: rule {rule!r} is not a rule id (like AMS-S3-001)")
    expires = _date(entry["expires"])
    if expires is None:
        raise WaiverError(f"{where}: expires {entry['expires']!r} is not a date (YYYY-MM-DD)")
    return Waiver(
        rule_id=rule,
        resource=str(entry["resource"]),
        justification=str(entry["justification"]).strip(),
        owner=str(entry.get("owner") or "").strip() or "unowned",
        expires=expires,
        where=where,
    )


@dataclass(frozen=True)
class WaiverUsage:
    """What one waiver did in a run: the failures it waived, and those it matched at all (an expired
    waiver matches without waiving)."""

    waiver: Waiver
    applied_to: int
    matched: int

    @property
    def unused(self) -> bool:
        """Matches no failing finding: stale (fixed, renamed, or mistyped), worth removing."""
        return self.matched == 0

    @property
    def matches_everything(self) -> bool:
        """The resource pattern is only ``*``: every resource of the rule is waived."""
        return bool(self.waiver.resource) and set(self.waiver.resource) == {"*"}

    def to_json(self, day: date) -> dict[str, Any]:
        return {
            **self.waiver.to_json(day),
            "applied_to": self.applied_to,
            "matched": self.matched,
            "unused": self.unused,
            "matches_everything": self.matches_everything,
        }


def waiver_usage(waivers: Iterable[Waiver], findings: Iterable[Finding]) -> list[WaiverUsage]:
    """Each waiver with the failures it matched and waived (findings as :func:`waive` left them)."""
    waivers = list(waivers)
    applied = dict.fromkeys(waivers, 0)
    matched = dict.fromkeys(waivers, 0)
    by_rule: dict[str, list[Waiver]] = {}
    for w in waivers:
        by_rule.setdefault(w.rule_id, []).append(w)
    for finding in findings:
        if finding.outcome not in (Outcome.FAIL, Outcome.WAIVED, Outcome.FIXED):
            continue
        for w in by_rule.get(finding.rule_id, ()):
            if w.matches(finding):
                matched[w] += 1
                if (
                    finding.outcome is Outcome.WAIVED
                    and finding.waiver is not None
                    and (finding.waiver.get("defined_at") == w.where)
                ):
                    applied[w] += 1
    return [WaiverUsage(w, applied[w], matched[w]) for w in waivers]


def waive(finding: Finding, waivers: Iterable[Waiver], day: date) -> Finding:
    """``finding`` as the waivers leave it: a failure an active waiver matches becomes WAIVED; one
    only an expired waiver matches stays FAIL and says the waiver expired."""
    if finding.outcome is not Outcome.FAIL:
        return finding
    matching = [w for w in waivers if w.matches(finding)]
    active = next((w for w in matching if w.active_on(day)), None)
    if active is not None:
        return _with(finding, Outcome.WAIVED, active.to_json(day), finding.message)
    if matching:
        latest = max(matching, key=lambda w: w.expires)
        message = f"{finding.message} (waiver expired {latest.expires.isoformat()})"
        return _with(finding, Outcome.FAIL, latest.to_json(day), message)
    return finding


def _with(finding: Finding, outcome: Outcome, waiver: Mapping[str, Any], message: str) -> Finding:
    from dataclasses import replace

    return replace(finding, outcome=outcome, waiver=waiver, message=message)
