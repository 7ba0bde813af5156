"""The account's fix lock: a marker managed policy whose creation IAM makes atomic, so two
``--fix`` runs on one account never change it at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ._common import (
    _iam,
    _tags,
    _when,
    json_text,
    needs,
)
from .changes import DIRECT, Call, Executor, is_error

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


# --- the account's fix lock -----------------------------------------------------------------------

#: The marker policy whose existence is the lock: IAM's CreatePolicy fails with EntityAlreadyExists
#: when the name is taken, which makes taking it atomic. It is attached to nothing and grants nothing.
LOCK_POLICY_NAME = "ams-iam-audit-fix-lock"
LOCK_PATH = "/ams-iam-audit/"
_LOCK_RUN, _LOCK_HOST, _LOCK_PID, _LOCK_TAKEN, _LOCK_EXPIRES = (
    f"ams-iam-audit:lock-{k}" for k in ("run", "host", "pid", "taken", "expires")
)


def lock_arn(partition: str, account_id: str) -> str:
    return f"arn:{partition}:iam::{account_id}:policy{LOCK_PATH}{LOCK_POLICY_NAME}"


@dataclass(frozen=True)
class FixLock:
    """Who holds an account's fix lock, as its marker policy's tags say."""

    arn: str
    run_id: str
    host: str = "?"
    pid: str = "?"
    taken_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def describe(self, now: datetime) -> str:
        def when(t: datetime | None) -> str:
            return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "unknown"

        left = ""
        if self.expires_at is not None and not self.expired(now):
            minutes = int((self.expires_at - now).total_seconds() // 60)
            left = f" (in {minutes // 60} h {minutes % 60} min)"
        return (
            f"run {self.run_id} on host {self.host} (pid {self.pid}), taken {when(self.taken_at)}, "
            f"expires {when(self.expires_at)}{left}"
        )


class FixLockHeldError(RuntimeError):
    """Another run holds the account's fix lock (``holder``), or it could not be taken."""

    def __init__(self, message: str, holder: FixLock | None = None) -> None:
        super().__init__(message)
        self.holder = holder


def _parse_time(value: str | None) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed if parsed is None or parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@needs("iam:GetPolicy")
def read_fix_lock(iam_client: IAMClient, arn: str, *, ttl: timedelta = timedelta(hours=2)) -> FixLock | None:
    """The lock's holder, or ``None`` when no run holds it. A marker without a readable expiry
    expires ``ttl`` after it was created."""
    try:
        policy = iam_client.get_policy(PolicyArn=arn)["Policy"]
    except ClientError as exc:
        if is_error(exc, "NoSuchEntity"):
            return None
        raise
    tags = {t["Key"]: t["Value"] for t in policy.get("Tags") or ()}
    created = _when(policy.get("CreateDate"))
    expires = _parse_time(tags.get(_LOCK_EXPIRES)) or (created + ttl if created else None)
    return FixLock(
        arn=arn,
        run_id=tags.get(_LOCK_RUN, "unknown"),
        host=tags.get(_LOCK_HOST, "?"),
        pid=tags.get(_LOCK_PID, "?"),
        taken_at=_parse_time(tags.get(_LOCK_TAKEN)) or created,
        expires_at=expires,
    )


def _lock_create_call(lock: FixLock) -> Call:
    assert lock.taken_at is not None
    assert lock.expires_at is not None
    name = lock.arn.rsplit("/", 1)[1]
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AmsIamAuditFixLockMarker", "Effect": "Deny", "Action": "iam:CreatePolicy", "Resource": lock.arn}
        ],
    }
    tags = {
        _LOCK_RUN: lock.run_id,
        _LOCK_HOST: lock.host,
        _LOCK_PID: lock.pid,
        _LOCK_TAKEN: lock.taken_at.isoformat(),
        _LOCK_EXPIRES: lock.expires_at.isoformat(),
    }
    return _iam(
        "create_policy",
        PolicyName=name,
        Path=LOCK_PATH,
        PolicyDocument=json_text(document),
        Description=(
            f"ams-iam-audit --fix lock: run {lock.run_id} on {lock.host} changes this account until "
            f"{lock.expires_at.isoformat()}. Attached to nothing; the run deletes it when it ends, and a "
            "later run takes it over once expired."
        )[:1000],
        Tags=_tags(tags),
    )


@needs("iam:GetPolicy", "iam:CreatePolicy", "iam:TagPolicy", "iam:DeletePolicy")
def acquire_fix_lock(
    iam_client: IAMClient,
    arn: str,
    run_id: str,
    *,
    host: str,
    pid: str,
    ttl: timedelta,
    now: datetime | None = None,
    executor: Executor = DIRECT,
) -> tuple[FixLock, FixLock | None]:
    """Take the account's fix lock by creating its marker policy (:data:`LOCK_POLICY_NAME`), which
    IAM creates only if no policy of that name exists. Returns our lock and the expired lock of
    another run this one took over (deleted, then created again as ours), or ``None``. Raises
    :class:`FixLockHeldError` while another run's lock has not expired, or when another run took
    it between our reads."""
    now = now or datetime.now(UTC)
    current = read_fix_lock(iam_client, arn, ttl=ttl)
    if current is not None and not current.expired(now):
        raise FixLockHeldError(f"another --fix holds this account's lock ({current.describe(now)})", current)
    if current is not None:
        try:
            executor.run(iam_client, _iam("delete_policy", PolicyArn=arn))
        except ClientError as exc:
            if not is_error(exc, "NoSuchEntity"):  # gone already: another run released or took it over
                raise
    ours = FixLock(arn=arn, run_id=run_id, host=host, pid=pid, taken_at=now, expires_at=now + ttl)
    try:
        executor.run(iam_client, _lock_create_call(ours))
    except ClientError as exc:
        if not is_error(exc, "EntityAlreadyExists"):
            raise
        holder = read_fix_lock(iam_client, arn, ttl=ttl)
        where = holder.describe(now) if holder else "released since"
        raise FixLockHeldError(f"another --fix took this account's lock first ({where})", holder) from None
    check = read_fix_lock(iam_client, arn, ttl=ttl)
    if check is None or check.run_id != run_id:
        where = check.describe(now) if check else "deleted by someone else"
        raise FixLockHeldError(f"this account's lock was taken from this run at once ({where})", check)
    return ours, current


@needs("iam:GetPolicy", "iam:DeletePolicy")
def release_fix_lock(iam_client: IAMClient, arn: str, run_id: str, *, executor: Executor = DIRECT) -> bool:
    """Delete the lock's marker policy if this run (``run_id``) still holds it. Returns whether it did."""
    current = read_fix_lock(iam_client, arn)
    if current is None or current.run_id != run_id:
        return False
    executor.run(iam_client, _iam("delete_policy", PolicyArn=arn))
    return True
