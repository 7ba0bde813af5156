"""The fix journal: every change written down before it is made, and undone from it.

A journal is a JSON Lines file. Its first line is a header (account, caller, start time); then, for
each write call, a ``change`` line (the call, the calls that undo it, or why it cannot be undone) is
appended and flushed to disk *before* the call is made, followed by ``done`` or ``failed`` after
it. A run killed at any point leaves a journal that names every change that may have happened.

:func:`undo` replays a journal backwards: the undo calls of each change, newest first. A change
with no ``done`` line may or may not have happened, so its undo tolerates finding the prior state
already there. Some changes cannot come back (a deleted access key's secret, a console password):
the undo report lists them. Access key ids are masked in the journal like everywhere else; undo
finds the key by its masked id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from ..aws import AwsClients, error_code
from ..iam_utils.changes import Call, Executor
from ..jsonio import InputError, loads_json, mask_key_id, nesting_error, read_text, scrub

if TYPE_CHECKING:
    from botocore.client import BaseClient


__all__ = ["JOURNAL_FORMAT", "Journal", "JournalEntry", "JournalError", "UndoReport", "read_journal", "undo"]

JOURNAL_FORMAT = "ams-iam-audit/fix-journal"
JOURNAL_VERSION = 1

#: Errors that mean "already in the state the undo wants" (the change never happened, or was undone).
_ALREADY = ("NoSuchEntity", "EntityAlreadyExists", "ResourceNotFoundException", "NotFoundException")


class JournalError(ValueError):
    """A journal file that cannot be used; the message names the file and line."""


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Journal(Executor):
    """An executor that journals each call before making it. Use as a context manager."""

    def __init__(
        self,
        path: Path,
        account_id: str,
        caller_arn: str | None,
        purpose: str = "fix",
        unsupported: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(unsupported)
        self.path = Path(path)
        self.account_id = account_id
        self.caller_arn = caller_arn
        self.purpose = purpose
        self.seq = 0
        self.action = ""
        self.made: list[tuple[str, Call]] = []  # (action, call) of every call that succeeded
        self._fh: TextIO | None = None

    def __enter__(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = self.path.open("x", encoding="utf-8")  # never append to (or clobber) another run's journal
        self._write(
            {
                "type": "header",
                "format": JOURNAL_FORMAT,
                "version": JOURNAL_VERSION,
                "purpose": self.purpose,
                "account": self.account_id,
                "caller": self.caller_arn,
                "started_at": _now(),
            }
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def _write(self, entry: Mapping[str, Any]) -> None:
        assert self._fh is not None, "the journal is not open"
        self._fh.write(scrub(json.dumps(entry, default=str)) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    @contextmanager
    def acting_for(self, action: str) -> Iterator[None]:
        """Label the calls made inside with the plan action they belong to."""
        previous, self.action = self.action, action
        try:
            yield
        finally:
            self.action = previous

    def run(self, client: BaseClient, call: Call) -> Any:
        self.check(call)  # before the journal: a call never sent is not a change
        self.seq += 1
        seq = self.seq
        self._write({"type": "change", "seq": seq, "at": _now(), "action": self.action, "call": call.to_json()})
        try:
            result = self.send(client, call)
        except Exception as exc:  # an interrupt leaves the status unknown: the request may have gone out
            self._write({"type": "failed", "seq": seq, "at": _now(), "error": f"{error_code(exc)}: {exc}"})
            raise
        self._write({"type": "done", "seq": seq, "at": _now()})
        self.made.append((self.action, call))
        return result

    def calls_for(self, action: str) -> list[Call]:
        return [call for label, call in self.made if label == action]


@dataclass(frozen=True)
class JournalEntry:
    seq: int
    action: str
    call: Call
    status: str  # "done", "failed", or "unknown" (no line after it: the run stopped there)


@dataclass(frozen=True)
class ParsedJournal:
    header: Mapping[str, Any]
    entries: tuple[JournalEntry, ...]


def read_journal(path: Path) -> ParsedJournal:
    path = Path(path)
    try:
        lines = read_text(path).splitlines()
    except InputError as exc:
        raise JournalError(str(exc)) from None
    header: dict[str, Any] | None = None
    changes: dict[int, tuple[str, Call]] = {}
    status: dict[int, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = loads_json(line, f"{path}:{number}")
        except InputError as exc:
            if number == len(lines) and nesting_error(line) is None:
                break  # a torn last line: the run was killed while writing it; the change was not made
            raise JournalError(str(exc)) from None
        kind = entry.get("type") if isinstance(entry, dict) else None
        if number == 1:
            if kind != "header" or entry.get("format") != JOURNAL_FORMAT:
                raise JournalError(f"{path}:1: not an ams-iam-audit fix journal")
            if entry.get("version") != JOURNAL_VERSION:
                raise JournalError(
                    f"{path}:1: journal version {entry.get('version')} (this tool reads {JOURNAL_VERSION})"
                )
            header = entry
        elif kind in ("change", "done", "failed"):
            try:
                if kind == "change":
                    changes[int(entry["seq"])] = (str(entry.get("action", "")), Call.from_json(entry["call"]))
                else:
                    status[int(entry["seq"])] = kind
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise JournalError(f"{path}:{number}: malformed {kind} entry ({type(exc).__name__}: {exc})") from None
        else:
            raise JournalError(f"{path}:{number}: unknown entry type {kind!r}")
    if header is None:
        raise JournalError(f"{path}: empty journal")
    entries = tuple(
        JournalEntry(seq=seq, action=action, call=call, status=status.get(seq, "unknown"))
        for seq, (action, call) in sorted(changes.items())
    )
    return ParsedJournal(header=header, entries=entries)


@dataclass
class UndoReport:
    undone: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)  # nothing to undo: the prior state was there
    irreversible: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _resolve_key(clients: AwsClients, call: Call) -> Call:
    """Journals hold masked key ids; find the real one among the user's keys."""
    masked = call.params.get("AccessKeyId")
    if not masked or "*" not in str(masked):
        return call
    iam = clients.client("iam")
    for key in iam.list_access_keys(UserName=call.params["UserName"]).get("AccessKeyMetadata", ()):
        if mask_key_id(key["AccessKeyId"]) == masked:
            return Call(call.service, call.operation, {**call.params, "AccessKeyId": key["AccessKeyId"]}, call.region)
    raise LookupError(f"access key {masked} of user {call.params['UserName']} no longer exists")


def undo(path: Path, clients: AwsClients, account_id: str, undo_journal: Path) -> UndoReport:
    """Replay ``path`` backwards against the account behind ``clients``, journaling the undo calls
    in ``undo_journal`` (so an undo can itself be undone). Refuses a journal of another account."""
    parsed = read_journal(path)
    if parsed.header.get("account") != account_id:
        raise JournalError(
            f"{path}: journal of account {parsed.header.get('account')}, but the credentials reach {account_id}"
        )
    report = UndoReport()
    with Journal(undo_journal, account_id, None, purpose=f"undo of {path.name}") as journal:
        for entry in reversed(parsed.entries):
            label = f"#{entry.seq} {entry.call.describe()}"
            if entry.status == "failed":
                continue  # never happened
            if entry.call.irreversible:
                report.irreversible.append(f"{label}: {entry.call.irreversible}")
                continue
            with journal.acting_for(f"undo #{entry.seq}"):
                for step in entry.call.undo:
                    try:
                        resolved = _resolve_key(clients, step)
                        journal.run(clients.client(step.service, step.region), resolved)
                        report.undone.append(label)
                    except ClientError as exc:
                        if error_code(exc) in _ALREADY:
                            report.already.append(f"{label}: {error_code(exc)}")
                        else:
                            report.failed.append(f"{label}: {error_code(exc)}: {exc}")
                    except LookupError as exc:
                        report.irreversible.append(f"{label}: {exc}")
                    except BotoCoreError as exc:
                        report.failed.append(f"{label}: {exc}")
    return report
