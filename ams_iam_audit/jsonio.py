"""JSON in and out: plain-JSON conversion of our values, secret scrubbing, atomic file writes."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = ["jsonable", "mask_key_id", "scrub", "write_json_atomic", "write_text_atomic"]

_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b")


def mask_key_id(key_id: str) -> str:
    """``AKIAIOSFODNN7EXAMPLE`` -> ``AKIA************MPLE``: enough to match a key in the console."""
    if len(key_id) <= 8:
        return "*" * len(key_id)
    return key_id[:4] + "*" * (len(key_id) - 8) + key_id[-4:]


def write_text_atomic(path: Path, text: str | Iterable[str]) -> None:
    """Write ``text`` (a string, or its pieces in order) to ``path``: readers see the old file or the
    new one, never half of one (a temporary file in the same directory, then an atomic rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:
                fh.writelines(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, body: Any) -> None:
    """Write ``body`` as JSON to ``path``, atomically (see :func:`write_text_atomic`). The text is
    streamed to the file as it is encoded: a 93,000-finding document never exists as one string."""
    write_text_atomic(path, itertools.chain(json.JSONEncoder(indent=1, sort_keys=True).iterencode(body), "\n"))


def scrub(text: str) -> str:
    """Mask anything shaped like an access key id (``AKIA…``/``ASIA…``)."""
    return _KEY_ID.sub(lambda m: mask_key_id(m.group(0)), text)


def jsonable(value: Any) -> Any:
    """Plain JSON of our values: dataclasses (fields with ``repr=False`` left out), tuples, sets,
    datetimes and enums become JSON types; strings are scrubbed (see :func:`scrub`)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, str):
        return scrub(value)
    return value
