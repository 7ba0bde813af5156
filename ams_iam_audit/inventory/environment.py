"""Which environment variables hold a secret, decided at collection so the value is never kept.

A Lambda function's or CodeBuild project's variable is read with its value (ListFunctions,
BatchGetProjects); :func:`classify` turns it into an :class:`EnvironmentVariable` holding the name,
the type, what kind of secret the value looks like and a masked form, and the value is dropped there.
The rule AMS-SECRET-001 judges these records, offline as well as live.

What counts, checked in this order (the first that applies is the classification):

``access_key_id``
    an AWS access key id anywhere in the value (``AKIA``/``ASIA``/``ABIA``/``ACCA`` + 16, the pattern
    :func:`ams_iam_audit.jsonio.scrub` masks); its masked form keeps the first and last four characters.
``secret_access_key``
    a run of exactly 40 base64 characters mixing upper case, lower case and digits (a secret access
    key's shape; hex digests and names are not random enough to qualify), as ``scrub`` masks it.
``session_token``
    a run of 100 or more base64 characters (an STS session token's shape).
``url_credentials``
    a URL with a password in it (``scheme://user:password@host``).
``private_key``
    a PEM private key (``-----BEGIN … PRIVATE KEY-----``, with real or escaped line breaks: an SSH,
    TLS or JWT signing key, or a cloud service account's key file pasted whole).
``named_secret``
    a variable whose name says it holds a secret (a word such as ``SECRET``, ``PASSWORD``,
    ``PASSWD``, ``PWD``, ``PASS``, ``TOKEN``, ``PASSPHRASE``, ``CREDENTIALS``, ``APIKEY``, or ``API
    KEY`` / ``PRIVATE KEY`` / ``ACCESS KEY``; ``PASSWORD`` and ``PASSWD`` also inside a word, as in
    libpq's ``PGPASSWORD``, and ``SECRET`` or ``TOKEN`` at a word's end, as in ``GHTOKEN``), with a
    plain value. A name that also says the value only *points at* a secret or describes it (``ARN``,
    ``NAME``, ``ID``, ``PATH``, ``PARAM``, ``URL``, ``FILE``, ``TTL``, ``MAX``...:
    ``DB_PASSWORD_SECRET_ARN``, ``TOKEN_TTL``, ``MAX_TOKENS``) does not count, nor does a value that
    is empty, a boolean, or a reference (``arn:...``, ``{{resolve:...}}``).
``high_entropy``
    a value of at least 20 characters, made only of token characters (letters, digits, ``+/=_.~-``),
    mixing upper case, lower case and digits, with a Shannon entropy of at least 3.5 bits per
    character, and less than half of it made of words (runs of four or more lower-case or five or
    more upper-case letters): identifiers such as ``MyServiceHandlerName2024`` are half words, random
    text of 20 characters is so in under 3% of cases (hex digests and UUIDs have no upper case).

CodeBuild variables of type ``PARAMETER_STORE`` or ``SECRETS_MANAGER`` hold the *name* of a parameter or
secret, resolved at build time: they are the remedy, and are never classified.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter

from ..jsonio import SECRET_MASK, mask_key_id, scrub
from .model import EnvironmentVariable

__all__ = ["PLAINTEXT", "SECRET_KINDS", "classify", "high_entropy", "secret_named"]

PLAINTEXT = "PLAINTEXT"

#: Every classification, most certain first (see the module's docstring).
SECRET_KINDS = (
    "access_key_id",
    "secret_access_key",
    "session_token",
    "url_credentials",
    "private_key",
    "named_secret",
    "high_entropy",
)

_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_TOKEN = re.compile(r"[A-Za-z0-9/+]{100,}")
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----")
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_.~-]+")
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")

_SECRET_WORDS = frozenset(
    {"SECRET", "SECRETS", "PASSWORD", "PASSWORDS", "PASSWD", "PWD", "PASS", "TOKEN", "TOKENS", "PASSPHRASE"}
    | {"CREDENTIAL", "CREDENTIALS", "APIKEY", "PRIVATEKEY"}
)
#: Secret words found inside a longer word (libpq's PGPASSWORD), and at a word's end (GHTOKEN): not
#: TOKEN inside a word, which names tokenizers (TOKENIZER_PATH) in ML code.
_SECRET_INSIDE = ("PASSWORD", "PASSWD")
_SECRET_ENDINGS = ("SECRET", "TOKEN")
_SECRET_PAIRS = frozenset({("API", "KEY"), ("PRIVATE", "KEY"), ("ACCESS", "KEY"), ("SIGNING", "KEY")})
#: Words that make a secret-named variable a pointer to a secret, or a description of one.
_NOT_THE_SECRET = frozenset(
    {"ARN", "NAME", "ID", "PATH", "PARAM", "PARAMETER", "FILE", "URL", "URI", "ENDPOINT", "REGION", "TTL"}
    | {"EXPIRY", "EXPIRES", "EXPIRATION", "TYPE", "HEADER", "LENGTH", "LEN", "SECONDS", "MINUTES", "ENABLED"}
    | {"VERSION", "MAX", "MIN", "LIMIT", "COUNT", "NUM", "SIZE", "KEYID", "ROTATION", "POLICY", "LOCATION"}
)
_NOT_A_VALUE = frozenset({"true", "false", "yes", "no", "none", "null", "on", "off"})
_REFERENCE_PREFIXES = ("arn:", "{{resolve:", "ssm:", "secretsmanager:")

_MIN_ENTROPY_LENGTH = 20
_MIN_ENTROPY_BITS = 3.5
_MAX_WORD_SHARE = 0.5
_WORD_RUN = re.compile(r"[a-z]{4,}|[A-Z]{5,}")


def _words(name: str) -> list[str]:
    return [w.upper() for part in re.split(r"[^A-Za-z0-9]+", name) for w in _WORDS.findall(part)]


def secret_named(name: str) -> bool:
    """The name says the variable holds a secret (and not merely where one is, or how long it lives)."""
    words = _words(name)
    if any(w in _NOT_THE_SECRET for w in words):
        return False
    return (
        any(w in _SECRET_WORDS for w in words)
        or any(inner in w for w in words for inner in _SECRET_INSIDE)
        or any(w.endswith(_SECRET_ENDINGS) for w in words)
        or any(pair in _SECRET_PAIRS for pair in itertools.pairwise(words))
    )


def _is_reference(value: str) -> bool:
    text = value.strip()
    return not text or text.lower() in _NOT_A_VALUE or text.lower().startswith(_REFERENCE_PREFIXES)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def high_entropy(value: str) -> bool:
    """Random-looking text: see the module's docstring for the exact test."""
    if len(value) < _MIN_ENTROPY_LENGTH or not _TOKEN_CHARS.fullmatch(value):
        return False
    if not (any(c.isupper() for c in value) and any(c.islower() for c in value) and any(c.isdigit() for c in value)):
        return False
    words = sum(len(m.group(0)) for m in _WORD_RUN.finditer(value)) / len(value)
    return words < _MAX_WORD_SHARE and _entropy(value) >= _MIN_ENTROPY_BITS


def _kind(name: str, value: str) -> tuple[str, str] | None:
    """(classification, masked form) of a plain-text value, or ``None`` when it looks like no secret."""
    hidden = f"{SECRET_MASK} ({len(value)} characters)"
    if key := _KEY_ID.search(value):
        return "access_key_id", mask_key_id(key.group(0))
    if any(scrub(m.group(0)) == SECRET_MASK for m in _SECRET_KEY.finditer(value)):
        return "secret_access_key", hidden
    if _TOKEN.search(value):
        return "session_token", hidden
    if _URL_PASSWORD.search(value):
        return "url_credentials", hidden
    if _PRIVATE_KEY.search(value):
        return "private_key", hidden
    if secret_named(name) and not _is_reference(value):
        return "named_secret", hidden
    if high_entropy(value.strip()):
        return "high_entropy", hidden
    return None


def classify(name: str, value: object, type_: str = PLAINTEXT) -> EnvironmentVariable:
    """The record kept of one variable: its value is judged here and not kept."""
    if type_ != PLAINTEXT or not isinstance(value, str):
        return EnvironmentVariable(name=name, type=type_)
    found = _kind(name, value)
    if found is None:
        return EnvironmentVariable(name=name, type=type_)
    return EnvironmentVariable(name=name, type=type_, classification=found[0], masked=found[1])
