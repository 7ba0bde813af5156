"""The account as immutable data: the model, its collection from AWS, and snapshots."""

from .model import (
    IAM_PARTS,
    AccessKey,
    AttachedPolicy,
    Bucket,
    Consumer,
    Group,
    InlinePolicy,
    Inventory,
    ManagedPolicy,
    PolicyVersion,
    Role,
    Section,
    User,
    mask_key_id,
)
from .snapshot import SnapshotError, load_snapshot, save_snapshot

__all__ = [
    "IAM_PARTS",
    "AccessKey",
    "AttachedPolicy",
    "Bucket",
    "Consumer",
    "Group",
    "InlinePolicy",
    "Inventory",
    "ManagedPolicy",
    "PolicyVersion",
    "Role",
    "Section",
    "SnapshotError",
    "User",
    "load_snapshot",
    "mask_key_id",
    "save_snapshot",
]
