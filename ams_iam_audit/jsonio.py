"""JSON in and out, and everything that leaves the process.

* reading: :func:`read_json` / :func:`loads_json` / :func:`read_text` are the one way a file we are
  given is read (snapshots, GAAD files, waivers, baselines, journals, findings files): strict UTF-8
  (a UTF-16/UTF-32 file is named as such), nesting bounded by :data:`MAX_DEPTH`, and every failure an
  :class:`InputError` whose message names the file;
* writing: :func:`write_text_atomic` / :func:`write_json_atomic`; a failure is an :class:`OutputError`
  naming the path; :func:`encode_json` / :func:`loads_written` encode a large document (findings.json,
  SARIF) at C speed with orjson, and parse back what this process encoded; :func:`encode_json_stream`
  makes the same bytes a list item at a time, so a large document is never held whole;
* masking: :func:`scrub` masks access key ids and secret-looking tokens in any string; every output
  (findings.json, reports, terminal, JUnit, journal, snapshot) passes through it (the reports as a
  stream: :func:`scrub_stream`, :func:`scrub_stream_utf8`), and
  :func:`terminal_safe` also neutralises control characters for the terminal.
"""

from __future__ import annotations

import codecs
import dataclasses
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import yaml

__all__ = [
    "CONTROL_CHARACTERS",
    "FINDINGS_MAX_DEPTH",
    "MAX_DEPTH",
    "POLICY_MAX_DEPTH",
    "InputError",
    "NoAliasYamlLoader",
    "OutputError",
    "check_writable_dir",
    "decode_utf8",
    "encode_json",
    "encode_json_stream",
    "jsonable",
    "loads_json",
    "loads_written",
    "mask_key_id",
    "nesting_error",
    "read_json",
    "read_text",
    "scrub",
    "scrub_stream",
    "scrub_stream_utf8",
    "terminal_safe",
    "write_json_atomic",
    "write_text_atomic",
    "yaml_error",
]

#: Deepest nesting of arrays and objects accepted in a file we are given. Real documents stay far
#: below (a GAAD file about 10, a policy with conditions about 6); the interpreter's own limit (1,000
#: frames, shared with everything else on the stack) is far above.
MAX_DEPTH = 100
#: Deepest nesting in one policy document (AWS's own documents stay under 10).
POLICY_MAX_DEPTH = 64
#: A findings file nests evidence (policy documents of up to MAX_DEPTH inside a snapshot) a few levels
#: deeper: what we write, we read back.
FINDINGS_MAX_DEPTH = MAX_DEPTH + 28

# access key ids: long-term (AKIA), temporary (ASIA), and the other credential prefixes IAM documents
_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])")
# a secret access key is 40 characters of base64; a session token is a long base64 run
_SECRET = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_TOKEN = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{100,}={0,2}(?![A-Za-z0-9/+=])")
_SENSITIVE = re.compile(f"{_KEY_ID.pattern}|{_TOKEN.pattern}|{_SECRET.pattern}")
# every match of _SENSITIVE lies within a run of at least 20 of these characters, and each of its
# look-arounds tests a subset of them: scanning for the runs first, then _SENSITIVE inside each run,
# masks exactly the same, at twice the speed over a whole report
_RUN = re.compile(r"[A-Za-z0-9/+=]{20,}")
#: scrub's results for strings up to this long are remembered (policy names, ARNs and statements
#: repeat across tens of thousands of findings); the memo is dropped when it holds _SCRUB_MEMO_SIZE
_SCRUB_MEMO_LENGTH = 4096
_SCRUB_MEMO_SIZE = 200_000
_scrubbed: dict[str, str] = {}
SECRET_MASK = "[secret masked]"

# C0 controls but newline and tab, DEL, C1 controls, and the bidirectional overrides and isolates
CONTROL_CHARACTERS = _CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# a JSON string once its escaped backslashes and quotes are gone
_STRING = re.compile(rb'"[^"]*"')
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'"[]{}')
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian byte order mark)"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian byte order mark)"),
    (b"\xff\xfe", "UTF-16 (little-endian byte order mark)"),
    (b"\xfe\xff", "UTF-16 (big-endian byte order mark)"),
)


class InputError(ValueError):
    """A file (or text) we were given cannot be used; the message names it and says why."""


class OutputError(OSError):
    """A file could not be written; the message names the path and the reason."""


class NoAliasYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader without anchors and aliases, for every YAML file we are given (waivers,
    accounts): none of them needs them, and an alias bomb (a few hundred bytes of nested aliases)
    expands into gigabytes. The error's mark names the line."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.MarkedYAMLError(
                problem="anchors and aliases (& and *) are not allowed in this file",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def yaml_error(where: str, exc: yaml.YAMLError) -> str:
    """The message of a YAML file that does not parse: ``where`` (the file, and what it was given
    as), the line when PyYAML knows it, and its problem (``not valid YAML: ...``)."""
    mark = getattr(exc, "problem_mark", None)
    line = f":{mark.line + 1}" if mark is not None else ""
    return f"{where}{line}: not valid YAML: {getattr(exc, 'problem', exc)}"


def decode_utf8(data: bytes, where: str) -> str:
    """``data`` as strict UTF-8 (a UTF-8 byte order mark is dropped). UTF-16 and UTF-32 files (what
    PowerShell's ``>`` writes) are named as such."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise InputError(f"{where}: the file is {name}, not UTF-8: convert it to UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data[:4]:
        raise InputError(f"{where}: the file looks like UTF-16 or UTF-32 (NUL bytes), not UTF-8: convert it to UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{where}: not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}, offset {exc.start}): convert it to UTF-8"
        ) from None


def read_text(path: Path, what: str = "") -> str:
    """The text of a file we are given, strict UTF-8. ``what`` prefixes messages (``--baseline``)."""
    where = f"{what} {path}".strip()
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{where}: cannot read: {exc.strerror}") from None
    return decode_utf8(data, where)


def _peel(brackets: bytes, max_depth: int) -> bool | None:
    """Remove the innermost empty pairs, one nesting level (at least) per pass: ``True`` when
    nothing is left within ``max_depth`` passes, ``False`` when something is still nested after
    them, ``None`` when the brackets do not balance."""
    for _ in range(max_depth):
        shorter = brackets.replace(b"{}", b"").replace(b"[]", b"")
        if not shorter:
            return True
        if shorter == brackets:
            return None
        brackets = shorter
    return False


def nesting_error(text: str | bytes, max_depth: int = MAX_DEPTH) -> str | None:
    """Why the JSON ``text`` (or its UTF-8 bytes) nests too deeply (``None`` when it does not),
    measured without parsing it, at C speed: escapes and strings removed, then the brackets alone
    peeled a level per pass."""
    if isinstance(text, bytes):
        raw = text
        if raw.count(b"[") + raw.count(b"{") <= max_depth:
            return None
    else:
        if text.count("[") + text.count("{") <= max_depth:
            return None
        raw = text.encode("utf-8", "surrogatepass")
    data = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    # quotes and brackets only: a string is then "" unless it holds brackets (rare: those go by regex)
    brackets = data.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = _STRING.sub(b"", brackets)
    if _peel(brackets, max_depth) is False:
        return f"nested more than {max_depth} levels deep (arrays and objects)"
    return None  # within the limit, or not JSON at all (the parser says why)


def loads_json(text: str, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON ``text``; raises :class:`InputError` naming ``where`` (syntax, nesting)."""
    deep = nesting_error(text, max_depth)
    if deep is not None:
        raise InputError(f"{where}: {deep}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply") from None


def read_json(path: Path, what: str = "", max_depth: int = MAX_DEPTH) -> Any:
    """A JSON file we are given (see :func:`read_text` and :func:`loads_json`)."""
    return loads_json(read_text(path, what), f"{what} {path}".strip(), max_depth)


def mask_key_id(key_id: str) -> str:
    """``AKIAIOSFODNN7EXAMPLE`` -> ``AKIA************MPLE``: enough to match a key in the console."""
    if len(key_id) <= 8:
        return "*" * len(key_id)
    return key_id[:4] + "*" * (len(key_id) - 8) + key_id[-4:]


def write_text_atomic(path: Path, text: str | bytes | Iterable[str | bytes]) -> None:
    """Write ``text`` (a string, its UTF-8 bytes, or its pieces in order, each a string or UTF-8
    bytes) to ``path``: readers see the old file or the new one, never half of one (a temporary file
    in the same directory, then an atomic rename). Pieces are written as they come (a generator's
    output is never held whole); an exception raised by the generator leaves the old file in place
    and is raised again as it is."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_chunks(fh, [text] if isinstance(text, str | bytes) else text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _decoded(data: bytes, size: int = 1 << 20) -> Iterator[str]:
    """UTF-8 ``data`` as text, ``size`` bytes at a time (a character split between two pieces is
    decoded whole with the second)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    for start in range(0, len(data), size):
        yield decoder.decode(view[start : start + size])
    yield decoder.decode(b"", final=True)


def _write_chunks(fh: Any, chunks: Iterable[str | bytes]) -> None:
    """Each piece to the binary file ``fh``, text encoded as strict UTF-8."""
    write = fh.write
    for chunk in chunks:
        write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)


def check_writable_dir(path: Path) -> str | None:
    """Why files cannot be written in directory ``path`` (``None`` when they can): it is created if
    missing, then a small probe file is written, flushed to disk and removed."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        return "exists and is not a directory"
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".ams-iam-audit-probe.", dir=path)
    except OSError as exc:
        return f"cannot be written: {exc.strerror or exc}"
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_chunks(fh, [b"probe\n" * 512])
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        return f"cannot be written: {exc.strerror or exc}"
    finally:
        Path(tmp).unlink(missing_ok=True)
    return None


def encode_json(body: Any, *, sort_keys: bool = True, newline: bool = True) -> bytes:
    """``body`` (plain JSON values, as :func:`jsonable` makes them) as UTF-8 JSON indented by two
    spaces, keys sorted unless ``sort_keys`` is false, ending in a newline: orjson, 10 x the
    standard library's indenting encoder (which is pure Python). Non-ASCII characters are written
    as themselves, not as ``\\u`` escapes. Raises ``TypeError`` for anything else. Bytes, not text:
    a findings document of the maximum quotas is 80 MB, and :func:`write_text_atomic` and
    :func:`loads_written` take the bytes as they are."""
    option = orjson.OPT_INDENT_2 | (orjson.OPT_APPEND_NEWLINE if newline else 0)
    option |= orjson.OPT_SORT_KEYS if sort_keys else 0
    try:
        return orjson.dumps(body, option=option)
    except orjson.JSONEncodeError as exc:
        raise TypeError(f"not JSON-serialisable: {exc}") from None


def encode_json_stream(
    body: Mapping[str, Any],
    path: tuple[str, ...],
    items: Iterable[bytes],
    *,
    sort_keys: bool = True,
) -> Iterator[bytes]:
    """What :func:`encode_json` makes of ``body`` with the list at ``path`` holding ``items``,
    yielded in pieces so the whole text never exists at once: the document around the list, then
    each item as it comes. ``path`` names the list by its keys from the top, ``""`` standing for the
    only item of a one-item list (``("runs", "", "results")``: the ``results`` of the first run);
    ``body`` holds an empty list there. Each item is given already encoded by :func:`encode_json`
    with ``newline=False`` (as a document of its own), so the caller can keep or parse its bytes.
    The bytes are the same as :func:`encode_json`'s (``tests/test_report_encoding.py``)."""
    head = encode_json(body, sort_keys=sort_keys)
    # the list's line: a key at this depth's indentation; inside a JSON string a quote is escaped,
    # so '"key": []' after a newline and exactly these spaces can only be that key of that object
    depth = len(path)
    marker = b"\n" + b"  " * depth + orjson.dumps(path[-1]) + b": []"
    at = head.find(marker)
    if at < 0 or head.find(marker, at + 1) >= 0:
        raise ValueError(f"encode_json_stream: no single empty list at {'/'.join(path)} in the document")
    cut = at + len(marker) - 1  # before the "]"
    indent = b"\n" + b"  " * (depth + 1)
    yield head[:cut]
    first = True
    for item in items:
        yield (indent if first else b"," + indent) + item.replace(b"\n", indent)
        first = False
    yield head[cut:] if first else b"\n" + b"  " * depth + head[cut:]


def loads_written(text: str | bytes, where: str, max_depth: int = MAX_DEPTH) -> Any:
    """Parse back JSON this process encoded (:func:`encode_json`), at C speed, with the nesting
    limit :func:`loads_json` applies to the same file when it is given back later."""
    deep = nesting_error(text, max_depth)
    if deep is not None:
        raise InputError(f"{where}: {deep}")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{where}: not JSON ({exc})") from None


def write_json_atomic(path: Path, body: Any) -> None:
    """Write ``body`` as JSON to ``path``, atomically (see :func:`write_text_atomic`). The text is
    streamed to the file as it is encoded: a 93,000-finding document never exists as one string."""
    write_text_atomic(path, itertools.chain(json.JSONEncoder(indent=1, sort_keys=True).iterencode(body), "\n"))


def _mask(match: re.Match[str]) -> str:
    token = match.group(0)
    if _KEY_ID.fullmatch(token):
        return mask_key_id(token)
    if len(token) == 40 and not (
        any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)
    ):
        return token  # 40 characters, but not random base64 (a name, a hex digest)
    return SECRET_MASK


def scrub(text: str) -> str:
    """Mask what could be a credential: access key ids (``AKIA…``, ``ASIA…``: first and last four
    characters kept), secret access keys (40 random base64 characters) and session tokens (long
    base64 runs), which are replaced whole."""
    if len(text) < 20:  # shorter than any key id: most strings, at no cost
        return text
    if len(text) > _SCRUB_MEMO_LENGTH:
        return _RUN.sub(_mask_run, text)
    done = _scrubbed.get(text)
    if done is None:
        done = _remember(_scrubbed, text, _RUN.sub(_mask_run, text))
    return done


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> Any:
    """``value``, kept in ``memo`` under ``key``; a full memo (``_SCRUB_MEMO_SIZE``) starts again."""
    if len(memo) >= _SCRUB_MEMO_SIZE:
        memo.clear()
    memo[key] = value
    return value


def _mask_run(match: re.Match[str]) -> str:
    return _masked_run(match.group(0))


def _masked_run(run: str) -> str:
    """One run of key-like characters (:data:`_RUN`) with every token in it masked."""
    return _SENSITIVE.sub(_mask, run)


#: the characters of the runs :data:`_RUN` finds (a masked token never extends past one)
_RUN_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=")
#: each byte of UTF-8 text as ``a`` where it is a character of a run, else a space: the run
#: characters are ASCII, and no byte of another character's UTF-8 encoding is ASCII, so the runs of
#: the text's bytes are the runs of its characters
_RUN_BYTES = bytes(0x61 if chr(byte) in _RUN_CHARACTERS else 0x20 for byte in range(256))
_RUN_START = b"a" * 20  # _RUN's shortest run
#: each run :func:`scrub_stream` met and what :func:`_mask_run` made of it (the same few thousand
#: names and actions make up the runs of a whole report); dropped when it holds _SCRUB_MEMO_SIZE
_masked_runs: dict[bytes, bytes] = {}


def _scrub_utf8(text: str) -> bytes:
    """``scrub(text)`` as UTF-8 bytes, for a long text (a piece of a report): its runs found at C
    speed (the bytes translated to run or not, then each run of at least 20 found with
    ``bytes.find``) instead of by :data:`_RUN` at each position, and each masked as
    :func:`_mask_run` masks it, remembered per run. The same masks as :func:`scrub`
    (``tests/test_report_encoding.py`` compares them on random text), at six times the speed."""
    data = text.encode("utf-8")
    runs = data.translate(_RUN_BYTES)
    find = runs.find
    at = find(_RUN_START)
    if at < 0:
        return data
    out: list[bytes] = []
    done = 0  # data[:done] is in out
    memo = _masked_runs
    while at >= 0:
        # ``at`` starts a run: the previous one ended before it, and a run of 20 found inside a
        # longer one would have been found at that one's start
        end = find(b" ", at + 20)
        if end < 0:
            end = len(data)
        run = data[at:end]
        masked = memo.get(run)
        if masked is None:
            masked = _masked_run(run.decode("ascii")).encode("ascii")
            if len(run) <= _SCRUB_MEMO_LENGTH:
                _remember(memo, run, masked)
        if masked != run:
            out += (data[done:at], masked)
            done = end
        at = find(_RUN_START, end)
    if not out:
        return data
    out.append(data[done:])
    return b"".join(out)


def scrub_stream(chunks: Iterable[str], size: int = 1 << 16) -> Iterator[str]:
    """:func:`scrub` over text given in pieces (a template's output), yielded in pieces of about
    ``size`` characters: the same masks as :func:`scrub` of the whole text, without the whole text.
    A piece is cut only after a character that no token contains, so a key id split across two
    pieces is still masked whole; a run of token characters is held back until it ends."""
    for piece in scrub_stream_utf8(chunks, size):
        yield piece.decode("utf-8")


def scrub_stream_utf8(chunks: Iterable[str], size: int = 1 << 16) -> Iterator[bytes]:
    """:func:`scrub_stream`'s pieces as UTF-8 bytes, as a file is written (each piece is whole
    characters)."""
    pending: list[str] = []
    held = 0  # characters in pending
    threshold = size
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        if held < threshold:
            continue
        text = "".join(pending)
        cut = len(text)
        while cut and text[cut - 1] in _RUN_CHARACTERS:
            cut -= 1
        if cut:
            yield _scrub_utf8(text[:cut])
            pending, held, threshold = [text[cut:]], len(text) - cut, size
        else:  # one run so far (a long base64 value): wait for twice as much, never rescan each piece
            pending, threshold = [text], 2 * held
    if pending:
        yield _scrub_utf8("".join(pending))


def terminal_safe(text: str) -> str:
    """``text`` for a terminal: scrubbed, and every control character but newline and tab (escape
    sequences, carriage returns, bidirectional overrides) shown as a visible escape like ``\\x1b``."""
    return _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), scrub(text))


def jsonable(value: Any) -> Any:
    """Plain JSON of our values: dataclasses (fields with ``repr=False`` left out), tuples, sets,
    datetimes and enums become JSON types; strings, mapping keys included, are scrubbed (see :func:`scrub`)."""
    # plain JSON first, by exact type (no ABC checks): nearly every value of a findings document
    kind = type(value)
    if kind is str:
        return scrub(value)
    if kind is dict:
        return {scrub(k) if type(k) is str else scrub(str(k)): jsonable(v) for k, v in value.items()}
    if kind is list:
        return [jsonable(v) for v in value]
    if value is None or kind is int or kind is bool or kind is float:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {scrub(str(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, str):
        return scrub(value)
    return value
