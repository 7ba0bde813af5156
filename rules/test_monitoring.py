"""Monitoring: a CloudTrail trail records AssumeRole (and every other management event) in every region.

The library's refactoring guide moves every workload to ``sts:AssumeRole`` on the execution role and
says to watch AssumeRole in CloudTrail. CloudTrail records AssumeRole as a *read-only* management event
(``"readOnly": true``), so a trail logging only write events does not record it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ams_iam_audit import Controls, Evidence, Trail, rule

#: Where AssumeRole (and the rest of STS) is recorded: a selector that leaves this source out misses it.
_STS = "sts.amazonaws.com"


def _basic(selector: Mapping[str, Any]) -> tuple[set[str], str | None]:
    """What a (basic) event selector logs of management events: {"read", "write"}, and why not all."""
    if selector.get("IncludeManagementEvents", True) is not True:
        return set(), "IncludeManagementEvents is false"
    if _STS in (selector.get("ExcludeManagementEventSources") or ()):
        return set(), f"excludes {_STS}"
    kind = selector.get("ReadWriteType", "All")
    logs = {"All": {"read", "write"}, "ReadOnly": {"read"}, "WriteOnly": {"write"}}.get(kind, set())
    return logs, None if logs == {"read", "write"} else f"ReadWriteType is {kind}"


def _advanced(selector: Mapping[str, Any]) -> tuple[set[str], str | None]:
    """What an advanced event selector logs of management events (an AND of its field selectors)."""
    fields = {str(f.get("Field")): f for f in selector.get("FieldSelectors") or () if isinstance(f, Mapping)}
    category = fields.pop("eventCategory", None)
    if category is None or list(category.get("Equals") or ()) != ["Management"]:
        return set(), None  # a data or network activity selector: says nothing about management events
    logs = {"read", "write"}
    reason = None
    read_only = fields.pop("readOnly", None)
    if read_only is not None:
        values = {str(v).lower() for v in read_only.get("Equals") or ()}
        logs = {"read"} if values == {"true"} else {"write"} if values == {"false"} else logs
        reason = None if logs == {"read", "write"} else f"readOnly is {', '.join(sorted(values))}"
    source = fields.pop("eventSource", None)
    if source is not None:
        excluded = _STS in (source.get("NotEquals") or ()) or (
            "Equals" in source and _STS not in (source.get("Equals") or ())
        )
        if excluded:
            return set(), f"eventSource leaves out {_STS}"
    if fields:
        return set(), f"narrowed by {', '.join(sorted(fields))}"
    return logs, reason


def _management_events(trail: Trail) -> tuple[set[str], list[str]]:
    """Which management events the trail logs ({"read", "write"}), and the reasons it logs fewer."""
    basic, advanced = trail.event_selectors or (), trail.advanced_event_selectors or ()
    if not basic and not advanced and not trail.custom_event_selectors:
        return {"read", "write"}, []  # no selectors of its own: a trail logs every management event
    logs: set[str] = set()
    notes = []
    judged = [_basic(s) for s in basic] + [_advanced(s) for s in advanced]
    for found, note in judged:
        logs |= found
        if note:
            notes.append(note)
    return logs, notes if logs != {"read", "write"} else []


@rule(
    id="AMS-TRAIL-001",
    title="A multi-region CloudTrail trail logs every management event, AssumeRole included",
    severity="high",
    area="monitoring",
    scope="cloudtrail",
    rationale=(
        "The refactored library reaches AWS only through sts:AssumeRole on the execution role, and its guide says "
        "to watch AssumeRole in CloudTrail: who assumed the role, from where, and what the session then did. That "
        "record exists only if a trail logs management events in every region (a session can be opened in any "
        "region) and is logging now. CloudTrail records AssumeRole as a read-only event, so a trail must log read "
        "as well as write management events (ReadWriteType All, or advanced selectors on eventCategory Management "
        "without a readOnly filter); a selector leaving out sts.amazonaws.com misses it. A trail whose status or "
        "selectors could not be read is never taken for a logging one: without another trail that qualifies, the "
        "account is an error naming the permission."
    ),
    remediation=(
        "Create a multi-region trail (or an organization trail) logging all management events, read and write, "
        "to a bucket only the security team can change: aws cloudtrail create-trail --name <name> --s3-bucket-name "
        "<bucket> --is-multi-region-trail, then aws cloudtrail start-logging --name <name>. Alert on AssumeRole of "
        "the execution role from unexpected principals or source addresses."
    ),
    controls=Controls(cis=("3.1",), nist=("AU-2", "AU-3", "AU-12"), soc2=("CC7.2", "CC7.3")),
)
def test_cloudtrail_logs_management_events(cloudtrail: tuple[Trail, ...], evidence: Evidence) -> None:
    judged: list[dict[str, Any]] = []
    unknown: list[str] = []
    qualifying: list[str] = []
    for trail in cloudtrail:
        logs, notes = _management_events(trail) if trail.selectors_error is None else (set(), [])
        problems = []
        if not trail.multi_region:
            problems.append(f"logs {trail.home_region} only (not a multi-region trail)")
        if trail.logging is False:
            problems.append("is not logging (stopped)")
        if trail.selectors_error is None and logs != {"read", "write"}:
            missing = sorted({"read", "write"} - logs)
            problems.append(f"does not log {' or '.join(missing)} management events ({'; '.join(notes) or 'none'})")
        errors = [e for e in (trail.status_error, trail.selectors_error) if e]
        if errors and not problems:
            unknown.append(f"{trail.name}: {'; '.join(errors)}")
        elif not problems:
            qualifying.append(trail.name)
        judged.append(
            {
                "trail": trail.name,
                "arn": trail.arn,
                "home_region": trail.home_region,
                "multi_region": trail.multi_region,
                "organization_trail": trail.organization,
                "logging": trail.logging,
                "management_events": sorted(logs) if trail.selectors_error is None else None,
                "problems": problems,
                "unreadable": errors,
            }
        )
    evidence.add(trails=judged, qualifying=qualifying)
    if qualifying:
        return
    if unknown:
        raise LookupError("could not be evaluated: " + "; ".join(unknown))
    assert qualifying, (
        "no multi-region trail is logging read and write management events (AssumeRole is not recorded): "
        + ("; ".join(f"{t['trail']} {', '.join(t['problems'])}" for t in judged) or "the account has no trail")
    )
