"""S3 buckets: ``ensure_bucket`` (another account's bucket told apart, public access blocked on
create) and bucket policies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from ._common import (
    BucketOwnedElsewhereError,
    _doc,
    _pages,
    _same,
    json_text,
    needs,
)
from .changes import DIRECT, Call, Executor, is_error

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


# --- buckets --------------------------------------------------------------------------------------


@needs("s3:ListBucket", "s3:ListAllMyBuckets", "s3:CreateBucket", "s3:PutBucketPublicAccessBlock")
def ensure_bucket(s3_client: S3Client, bucket_name: str, region: str, *, executor: Executor = DIRECT) -> bool:
    """Create ``bucket_name`` in ``region`` unless this account already owns it. Returns whether it
    was created. A new bucket gets every public access block setting on. Raises
    :class:`BucketOwnedElsewhereError` when another account owns the name, and treats a bucket that
    appears concurrently (``BucketAlreadyOwnedByYou``) as already there."""
    try:
        s3_client.head_bucket(Bucket=bucket_name)
        exists = True
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in ("403", "AccessDenied", "Forbidden"):
            raise BucketOwnedElsewhereError(
                f"bucket {bucket_name} exists but this account cannot reach it: another account owns the name"
            ) from None
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    if exists:
        ours = {b["Name"] for b in _pages(s3_client, "list_buckets", "Buckets", Prefix=bucket_name)}
        if bucket_name not in ours:
            raise BucketOwnedElsewhereError(f"bucket {bucket_name} is owned by another account")
        return False
    params: dict[str, Any] = {"Bucket": bucket_name}
    if region != "us-east-1":  # us-east-1 takes no location constraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        executor.run(
            s3_client,
            Call(
                "s3",
                "create_bucket",
                params,
                region=region,
                undo=(Call("s3", "delete_bucket", {"Bucket": bucket_name}, region=region),),
            ),
        )
    except ClientError as exc:
        if is_error(exc, "BucketAlreadyOwnedByYou"):
            return False
        if is_error(exc, "BucketAlreadyExists"):
            raise BucketOwnedElsewhereError(f"bucket {bucket_name} is owned by another account") from None
        raise
    block = {k: True for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")}
    executor.run(
        s3_client,
        Call(
            "s3",
            "put_public_access_block",
            {"Bucket": bucket_name, "PublicAccessBlockConfiguration": block},
            region=region,
        ),
    )
    return True


@needs("s3:GetBucketPolicy", "s3:PutBucketPolicy")
def ensure_bucket_policy(
    s3_client: S3Client, bucket_name: str, policy_document: Mapping[str, Any] | str, *, executor: Executor = DIRECT
) -> bool:
    """Make ``policy_document`` the bucket's policy unless it already grants the same. Returns
    whether it changed."""
    document = _doc(policy_document)
    try:
        current: dict[str, Any] | None = _doc(s3_client.get_bucket_policy(Bucket=bucket_name)["Policy"])
    except ClientError as exc:
        if not is_error(exc, "NoSuchBucketPolicy"):
            raise
        current = None
    if _same(current, document):
        return False
    undo = (
        Call("s3", "delete_bucket_policy", {"Bucket": bucket_name})
        if current is None
        else Call("s3", "put_bucket_policy", {"Bucket": bucket_name, "Policy": json_text(current)})
    )
    executor.run(
        s3_client, Call("s3", "put_bucket_policy", {"Bucket": bucket_name, "Policy": json_text(document)}, undo=(undo,))
    )
    return True
