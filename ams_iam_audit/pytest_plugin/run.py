"""One audit run's state: where the inventory came from, and its lifecycle.

:func:`open_run` does everything that must happen before a single rule runs, in this order: start
the demo account when asked, open the AWS session (assuming the role when asked), check the caller's
account against ``--aws-account`` (the account guard), collect, save the snapshot when asked. Any
failure is a :class:`RunError` whose message names the input that is wrong; the plugin turns it into
a usage error, so nothing is audited.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError

from ..aws import DEFAULT_REGION, AwsAccessError, AwsClients, AwsTarget, guard_account, open_session
from ..demo import DEMO_ACCOUNT_ID, DEMO_CREDENTIALS, DEMO_REGION, DemoAccount, DemoUnavailable
from ..inventory.collect import collect
from ..inventory.model import Inventory
from ..inventory.snapshot import SnapshotError, dump_inventory, load_snapshot, save_snapshot
from ..jsonio import OutputError
from .options import AuditOptions

__all__ = ["AuditRun", "RunError", "open_run", "run_from_workerinput"]


class RunError(Exception):
    """The run cannot start; the message says which input is wrong and how."""


def inventory_sha256(inventory: Inventory) -> str:
    """Digest of the inventory's content (not of how this run got it: live, or from a snapshot), so an
    offline replay of a snapshot reports the digest of the live run that saved it."""
    content = dump_inventory(inventory)
    content.pop("source", None)
    body = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass
class AuditRun:
    inventory: Inventory
    started_at: datetime
    demo: DemoAccount | None = None
    #: the live session the inventory was read with (``None`` offline and in xdist workers): ``--fix``
    #: makes its changes through it and reads the account again with ``recollect``
    clients: AwsClients | None = None
    recollect: Callable[[], Inventory] | None = field(default=None, repr=False)
    worker_snapshot: Path | None = None
    #: seconds per phase ("collect", "evaluate", "fix", "report"), as this process measured them
    timings: dict[str, float] = field(default_factory=dict)
    _owns_worker_snapshot: bool = field(default=False, repr=False)

    @property
    def execution_role_arns(self) -> tuple[str, ...]:
        return self.inventory.execution_role_arns

    @cached_property
    def snapshot_sha256(self) -> str:
        """Computed when a report asks for it (the controller's), not by every xdist worker."""
        return inventory_sha256(self.inventory)

    def describe_source(self) -> str:
        inv = self.inventory
        if inv.source == "live":
            where = "demo account" if self.demo is not None else "live"
            return f"{where}, caller {inv.caller_arn}, regions {', '.join(inv.regions)}"
        return f"{inv.source} collected {inv.collected_at.isoformat()}"

    def to_workerinput(self) -> dict[str, Any]:
        assert self.worker_snapshot is not None, "open_run(xdist=True) writes the workers' snapshot"
        return {
            "snapshot": str(self.worker_snapshot),
            "started_at": self.started_at.isoformat(),
            "source": self.inventory.source,
        }

    def close(self) -> None:
        if self.demo is not None:
            self.demo.stop()
        if self._owns_worker_snapshot and self.worker_snapshot is not None:
            self.worker_snapshot.unlink(missing_ok=True)


def run_from_workerinput(data: dict[str, Any]) -> AuditRun:
    """An xdist worker's run: the controller's inventory, from the snapshot it wrote."""
    path = Path(data["snapshot"])
    try:
        inventory = load_snapshot(path)
    except SnapshotError as exc:
        raise RunError(f"worker cannot load the controller's snapshot: {exc}") from None
    return AuditRun(
        inventory=replace(inventory, source=data["source"]),
        started_at=datetime.fromisoformat(data["started_at"]),
        worker_snapshot=path,
    )


@dataclass(frozen=True)
class _Live:
    inventory: Inventory
    clients: AwsClients
    recollect: Callable[[], Inventory]


def _live(options: AuditOptions, demo: DemoAccount | None) -> _Live:
    if demo is not None:
        key, secret = DEMO_CREDENTIALS
        target = AwsTarget(
            account_id=DEMO_ACCOUNT_ID,
            regions=options.regions or (DEMO_REGION,),
            endpoint_url=demo.endpoint_url,
            access_key_id=key,
            secret_access_key=secret,
            call_timeout=options.call_timeout,
        )
    else:
        assert options.account is not None
        target = AwsTarget(
            account_id=options.account,
            regions=options.regions,
            profile=options.profile,
            role_arn=options.role_arn,
            endpoint_url=options.endpoint_url,
            call_timeout=options.call_timeout,
        )
    try:
        clients, identity = open_session(target)
    except AwsAccessError as exc:
        raise RunError(str(exc)) from None
    regions = target.regions or (clients.session.region_name or DEFAULT_REGION,)
    return _Live(collect(clients, identity, regions), clients, lambda: collect(clients, identity, regions))


def open_run(options: AuditOptions, xdist: bool = False) -> AuditRun:
    started = datetime.now(UTC)
    demo = None
    try:
        live: _Live | None = None
        if options.snapshot is not None:
            try:
                inventory = load_snapshot(options.snapshot)
            except SnapshotError as exc:
                raise RunError(f"--snapshot {exc}") from None
            if options.account is not None:
                try:
                    guard_account(options.account, inventory.account_id)
                except AwsAccessError as exc:
                    raise RunError(
                        f"{exc} (the snapshot {options.snapshot} is of account {inventory.account_id})"
                    ) from None
        else:
            try:
                demo = DemoAccount().start() if options.demo else None
            except DemoUnavailable as exc:
                raise RunError(str(exc)) from None
            except (BotoCoreError, OSError) as exc:  # e.g. AWS_PROFILE naming a profile this machine lacks
                raise RunError(f"--aws-account demo: the demo account could not start: {exc}") from None
            live = _live(options, demo)
            inventory = live.inventory
        execution = (
            options.execution_role_arns
            or inventory.execution_role_arns
            or ((demo.execution_role_arn,) if demo is not None else ())
        )
        inventory = replace(inventory, execution_role_arns=execution)
        if options.save_snapshot is not None:
            try:
                save_snapshot(inventory, options.save_snapshot)
            except OutputError as exc:
                raise RunError(f"--save-snapshot {exc}") from None
        # only --fix calls AWS again (--fix-dry-run plans from the inventory); an audit lets the
        # session go once the account is read: its clients hold botocore's service models (over
        # 60 MB at IAM's maximum quotas, bench/README.md round 4), which the plugin's first
        # gc.collect then frees before anything is frozen
        keep = live if live is not None and options.fix == "apply" else None
        run = AuditRun(
            inventory=inventory,
            started_at=started,
            demo=demo,
            clients=keep.clients if keep else None,
            recollect=(lambda: replace(keep.recollect(), execution_role_arns=execution)) if keep else None,
        )
        live = None
        if xdist:
            try:
                fd, name = tempfile.mkstemp(prefix="ams-iam-audit-", suffix=".snapshot.json")
                os.close(fd)
                save_snapshot(inventory, Path(name))
            except OSError as exc:  # OutputError included
                raise RunError(f"cannot write the snapshot xdist workers read (temporary directory): {exc}") from None
            run.worker_snapshot, run._owns_worker_snapshot = Path(name), True
        return run
    except BaseException:
        if demo is not None:
            demo.stop()
        raise
