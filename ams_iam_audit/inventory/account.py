"""Reading the account's own IAM settings, for the CIS IAM controls: three read-only calls.

* GetAccountSummary: whether the root user has MFA and access keys (``AccountMFAEnabled``,
  ``AccountAccessKeysPresent``), section ``account_summary``.
* GetAccountPasswordPolicy: the IAM password policy (``NoSuchEntity``: the account has none, which is
  read, not unknown), section ``password_policy``.
* Access Analyzer ListAnalyzers, in every audited region (analyzers are regional), section
  ``accessanalyzer:<region>``.

Each call that fails (denied, throttled out, an answer not of the protocol's shape) leaves its section
unreadable, naming the permission it needed; the rules that judge it then report an error, never a
pass. Nothing here decides what is compliant. :func:`read_account` is called once, by
``collect.collect``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from ..aws import AwsClients, CallError, call, paged
from .model import AccountSummary, Analyzer, PasswordPolicy, Section

__all__ = ["ACCOUNT_PERMISSIONS", "AccountSettings", "read_account"]

_SUMMARY = "iam:GetAccountSummary"
_PASSWORD_POLICY = "iam:GetAccountPasswordPolicy"
_ANALYZERS = "access-analyzer:ListAnalyzers"
#: The actions :func:`read_account` calls (each is in ``collect.READ_PERMISSIONS``).
ACCOUNT_PERMISSIONS = (_SUMMARY, _PASSWORD_POLICY, _ANALYZERS)
_MALFORMED = "MalformedResponse"

T = TypeVar("T")


@dataclass(frozen=True)
class AccountSettings:
    """What :func:`read_account` read, and one section per read (readable or naming the permission)."""

    summary: AccountSummary | None
    password_policy: PasswordPolicy | None
    analyzers: tuple[Analyzer, ...]
    sections: tuple[Section, ...]


def _flag(summary: Mapping[str, Any], key: str) -> bool:
    value = summary.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value not in (0, 1):
        raise CallError(_SUMMARY, _MALFORMED, f"SummaryMap has no {key} of 0 or 1 (got {value!r:.40})")
    return value == 1


def _summary(clients: AwsClients) -> AccountSummary:
    summary = call(clients.client("iam"), "get_account_summary").get("SummaryMap")
    if not isinstance(summary, Mapping):
        raise CallError(_SUMMARY, _MALFORMED, f"no SummaryMap (got {summary!r:.60})")
    return AccountSummary(
        root_mfa_enabled=_flag(summary, "AccountMFAEnabled"),
        root_access_keys_present=_flag(summary, "AccountAccessKeysPresent"),
    )


def _typed(policy: Mapping[str, Any], key: str, kind: type) -> Any:
    value = policy.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CallError(_PASSWORD_POLICY, _MALFORMED, f"{key} is not {kind.__name__} (got {value!r:.40})")
    return value


def _password_policy(clients: AwsClients) -> PasswordPolicy | None:
    """The account's password policy; ``None`` when it has none (AWS answers ``NoSuchEntity``)."""
    try:
        answer = call(clients.client("iam"), "get_account_password_policy")
    except CallError as exc:
        if exc.code == "NoSuchEntity":
            return None
        raise
    policy = answer.get("PasswordPolicy")
    if not isinstance(policy, Mapping):
        raise CallError(_PASSWORD_POLICY, _MALFORMED, f"no PasswordPolicy (got {policy!r:.60})")
    return PasswordPolicy(
        minimum_length=_typed(policy, "MinimumPasswordLength", int),
        reuse_prevention=_typed(policy, "PasswordReusePrevention", int),
        require_symbols=bool(_typed(policy, "RequireSymbols", bool)),
        require_numbers=bool(_typed(policy, "RequireNumbers", bool)),
        require_uppercase=bool(_typed(policy, "RequireUppercaseCharacters", bool)),
        require_lowercase=bool(_typed(policy, "RequireLowercaseCharacters", bool)),
        max_age_days=_typed(policy, "MaxPasswordAge", int),
        expire_passwords=bool(_typed(policy, "ExpirePasswords", bool)),
        hard_expiry=bool(_typed(policy, "HardExpiry", bool)),
        allow_users_to_change=bool(_typed(policy, "AllowUsersToChangePassword", bool)),
    )


def _text(item: Any, key: str) -> str:
    value = item.get(key) if isinstance(item, Mapping) else None
    if not isinstance(value, str) or not value:
        raise CallError(_ANALYZERS, _MALFORMED, f"an analyzer has no {key} (got {item!r:.80})")
    return value


def _analyzers(clients: AwsClients, region: str) -> tuple[Analyzer, ...]:
    client = clients.client("accessanalyzer", region)
    return tuple(
        Analyzer(
            name=_text(item, "name"),
            arn=_text(item, "arn"),
            region=region,
            type=_text(item, "type"),
            status=_text(item, "status"),
        )
        for page in paged(client, "list_analyzers", "analyzers")
        for item in page.get("analyzers") or ()
    )


def _read(name: str, permission: str, source: str, fn: Callable[[], T]) -> tuple[T | None, Section]:
    try:
        return fn(), Section(name=name, readable=True, source=source)
    except CallError as exc:
        return None, Section(name=name, readable=False, permission=permission, error=str(exc))


def read_account(clients: AwsClients, regions: Iterable[str], pool: ThreadPoolExecutor) -> AccountSettings:
    """Read the root user's summary, the password policy and every audited region's analyzers
    (regions in parallel on ``pool``)."""
    regions = tuple(regions)
    futures = [
        pool.submit(
            _read, f"accessanalyzer:{region}", _ANALYZERS, "ListAnalyzers", lambda r=region: _analyzers(clients, r)
        )
        for region in regions
    ]
    summary, summary_section = _read("account_summary", _SUMMARY, "GetAccountSummary", lambda: _summary(clients))
    policy, policy_section = _read(
        "password_policy", _PASSWORD_POLICY, "GetAccountPasswordPolicy", lambda: _password_policy(clients)
    )
    analyzers: list[Analyzer] = []
    sections = [summary_section, policy_section]
    for future in futures:
        found, section = future.result()
        analyzers.extend(found or ())
        sections.append(section)
    return AccountSettings(
        summary=summary,
        password_policy=policy,
        analyzers=tuple(sorted(analyzers, key=lambda a: (a.region, a.name))),
        sections=tuple(sections),
    )
