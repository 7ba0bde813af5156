"""Retiring an ephemeral user whose access key is still in use, in two runs (``--fix-retire-in-use``).

A deleted access key cannot come back, so a user whose key a client signed with recently is never
deleted in one go. Instead:

1. **this run deactivates** its active keys (``UpdateAccessKey Status=Inactive``, journaled, undone by
   ``ams-iam-audit undo``) and then tags the user :data:`DEACTIVATED_TAG` with the time (ISO 8601, UTC);
   a client that still needs the key now fails loudly and can be moved to the execution role, or the
   key turned on again;
2. **a later run deletes** the keys and the user (``iam_utils.retire_user``, AWS's order) only when the
   tag is at least ``--fix-retire-grace-days`` old, every key is still inactive and none was used after
   the tag's time, as the inventory saw it and as IAM says just before the deletion.

The tag is written after the keys are deactivated, so a run killed in between leaves inactive keys and
no tag: the next run with the option deactivates nothing more and writes the tag. A key active again
under the tag means someone turned it back on: the user is kept (a new ``--fix-retire-in-use`` starts
over with a new date).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..iam_utils import RetirementRefusedError, key_deactivation_calls
from ..iam_utils.changes import DIRECT, Call, Executor, is_error
from ..inventory.model import User
from ..jsonio import mask_key_id

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_iam import IAMClient


__all__ = [
    "DEACTIVATED_TAG",
    "DEFAULT_GRACE_DAYS",
    "PERMISSIONS",
    "Decision",
    "check_unused_since",
    "deactivate_keys",
    "deactivated_at",
    "deactivation_calls",
    "decide",
]

#: The tag a first ``--fix-retire-in-use`` run puts on a user whose keys it deactivated: its value is
#: when (ISO 8601, UTC), the clock the grace period runs on.
DEACTIVATED_TAG = "ams-iam-audit:keys-deactivated"

#: ``--fix-retire-grace-days`` when not given: how long deactivated keys must stay unused before a
#: later run deletes them and their user.
DEFAULT_GRACE_DAYS = 7

#: function name -> the IAM actions it calls, for ``ams-iam-audit fix-policy``.
PERMISSIONS: dict[str, tuple[str, ...]] = {
    "deactivate_keys": (
        "iam:ListAccessKeys",
        "iam:ListUserTags",
        "iam:TagUser",
        "iam:UntagUser",
        "iam:UpdateAccessKey",
    ),
    "check_unused_since": ("iam:GetAccessKeyLastUsed", "iam:ListAccessKeys"),
}


def deactivated_at(tags: Mapping[str, str]) -> datetime | None:
    """When ``--fix-retire-in-use`` deactivated the user's keys, from :data:`DEACTIVATED_TAG`;
    ``None`` without the tag or with a value that is not a date (a later run writes a new one)."""
    value = tags.get(DEACTIVATED_TAG)
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _stamp(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Decision:
    """What the plan does with one ephemeral user: ``"retire"`` (delete it now), ``"deactivate"``
    (phase 1) or ``"keep"``, and why. ``since`` is the tag's date when the retirement is phase 2."""

    step: str
    reason: str
    since: datetime | None = None


def _ago(now: datetime, when: datetime) -> str:
    days = max((now - when).days, 0)
    return "today" if days == 0 else f"{days} day{'s' if days != 1 else ''} ago"


def decide(
    user: User, in_use: str | None, *, now: datetime, retire_in_use: bool, grace_days: int = DEFAULT_GRACE_DAYS
) -> Decision:
    """The step for ephemeral ``user``. ``in_use`` is why its key counts as in use
    (``plan.recent_key_use``), or ``None``. Pure: the inventory and the clock decide."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    since = deactivated_at(dict(user.tags))
    if since is None:
        if in_use is None:
            return Decision("retire", "AIModelShare ephemeral user")
        if retire_in_use:
            return Decision(
                "deactivate",
                f"{in_use.split(':', 1)[0]}, and --fix-retire-in-use is given: its keys are deactivated now "
                f"(reversible with ams-iam-audit undo); a --fix at least {grace_days} day(s) later deletes them and "
                "the user if they stay unused",
            )
        return Decision(
            "keep",
            f"{in_use}; --fix-retire-in-use deactivates its keys now and deletes the user on a later run",
        )
    head = f"its keys were deactivated by ams-iam-audit at {_stamp(since)} ({_ago(now, since)})"
    if user.access_keys is None:
        return Decision("keep", f"{head}, but its access keys could not be read: they cannot be shown unused")
    active = [k for k in user.access_keys if k.status == "Active"]
    used_after = [k for k in user.access_keys if k.last_used is not None and _utc(k.last_used) > since]
    if active or used_after:
        key = (active or used_after)[0]
        name = key.masked_id or f"in slot {key.slot}"
        what = "is active again" if active else f"was used at {_stamp(_utc(key.last_used))}"  # type: ignore[arg-type]
        if retire_in_use:
            return Decision(
                "deactivate",
                f"{head}; access key {name} {what} since: --fix-retire-in-use deactivates again and restarts the "
                f"{grace_days}-day grace period",
            )
        return Decision(
            "keep",
            f"{head}; access key {name} {what} since, so someone still needs it: kept (--fix-retire-in-use "
            "deactivates it again)",
        )
    ready = since + timedelta(days=grace_days)
    if now < ready:
        return Decision(
            "keep",
            f"{head} and unused since; deleted by a --fix from {_stamp(ready)}, once the "
            f"--fix-retire-grace-days={grace_days} have passed",
        )
    return Decision(
        "retire",
        f"AIModelShare ephemeral user; {head} and unused since, past the {grace_days}-day grace period",
        since=since,
    )


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _iam(operation: str, /, *, undo: tuple[Call, ...] = (), **params: Any) -> Call:
    return Call("iam", operation, params, undo=undo)


def deactivation_calls(
    user_name: str, keys: tuple[tuple[str, str], ...], previous_tag: str | None, when: datetime
) -> list[Call]:
    """Phase 1's calls: every active key of ``keys`` ((id, status) pairs) made inactive, then the
    user tagged with ``when``; each undone (the key made active, the tag restored or removed)."""
    u: dict[str, Any] = {"UserName": user_name}
    calls = key_deactivation_calls(user_name, keys)
    restore = (
        _iam("tag_user", **u, Tags=[{"Key": DEACTIVATED_TAG, "Value": previous_tag}])
        if previous_tag is not None
        else _iam("untag_user", **u, TagKeys=[DEACTIVATED_TAG])
    )
    calls.append(_iam("tag_user", undo=(restore,), **u, Tags=[{"Key": DEACTIVATED_TAG, "Value": _stamp(when)}]))
    return calls


def _pages(client: BaseClient, operation: str, key: str, **kwargs: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page.get(key, ())]


def deactivate_keys(iam_client: IAMClient, user_name: str, *, executor: Executor = DIRECT) -> bool:
    """Phase 1 on the live user: its active keys deactivated, then :data:`DEACTIVATED_TAG` set to
    now. Returns ``False`` when the user is gone (nothing to do)."""
    try:
        keys = tuple(
            (k["AccessKeyId"], k["Status"])
            for k in _pages(iam_client, "list_access_keys", "AccessKeyMetadata", UserName=user_name)
        )
        tags = {t["Key"]: t["Value"] for t in _pages(iam_client, "list_user_tags", "Tags", UserName=user_name)}
    except Exception as exc:
        if is_error(exc, "NoSuchEntity"):
            return False
        raise
    for call in deactivation_calls(user_name, keys, tags.get(DEACTIVATED_TAG), datetime.now(UTC)):
        executor.run(iam_client, call)
    return True


def check_unused_since(iam_client: IAMClient, user_name: str, since: datetime) -> None:
    """Phase 2's last look before anything is deleted: raise :class:`RetirementRefusedError` when a
    key of ``user_name`` is active, or IAM says it was used after ``since``."""
    for meta in _pages(iam_client, "list_access_keys", "AccessKeyMetadata", UserName=user_name):
        key = meta["AccessKeyId"]
        shown = mask_key_id(key)
        if meta.get("Status") == "Active":
            raise RetirementRefusedError(
                f"access key {shown} of {user_name} is active again since ams-iam-audit deactivated it at "
                f"{_stamp(since)}: not deleted"
            )
        last = iam_client.get_access_key_last_used(AccessKeyId=key).get("AccessKeyLastUsed") or {}
        used = last.get("LastUsedDate")
        if isinstance(used, datetime) and _utc(used) > since:
            raise RetirementRefusedError(
                f"access key {shown} of {user_name} was used at {_stamp(_utc(used))}, after ams-iam-audit "
                f"deactivated it at {_stamp(since)}: not deleted"
            )
