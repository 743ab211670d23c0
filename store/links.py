"""Which meter serves which household, over time.

A meter is linked to a household from ``linked_at`` until ``unlinked_at``. Replacing a meter
ends the old link and starts a new one at the same moment, so the household's readings and
alerts run on across the swap.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.batches import chunks, one_of
from store.errors import StoreError
from store.models import MeterLink


class InvalidLink(StoreError, ValueError):
    """A link that cannot be made as asked; the message says what to change."""


def current_households(session: Session, meter_ids: Iterable[str]) -> dict[str, int]:
    """The household each meter serves now, for the meters linked to one."""
    query = select(MeterLink.meter_id, MeterLink.household_id).where(MeterLink.unlinked_at.is_(None))
    return {meter_id: household_id for chunk in chunks(sorted(set(meter_ids)))
            for meter_id, household_id in session.execute(query.where(one_of(session, MeterLink.meter_id, chunk)))}


def current_meter(session: Session, household_id: int) -> MeterLink | None:
    """The link of the meter serving the household now, if any."""
    query = select(MeterLink).where(MeterLink.household_id == household_id, MeterLink.unlinked_at.is_(None))
    return session.scalar(query)


def links_of_household(session: Session, household_id: int) -> list[MeterLink]:
    """Every meter that has served the household, oldest link first."""
    query = select(MeterLink).where(MeterLink.household_id == household_id).order_by(MeterLink.linked_at, MeterLink.id)
    return list(session.scalars(query))


def link_meter(session: Session, *, meter_id: str, household_id: int, at: datetime) -> list[str]:
    """Make ``meter_id`` serve ``household_id`` from ``at``; returns what changed, in words.

    A meter serving another household is moved; a household served by another meter has that
    meter replaced (its link ends at ``at``). Linking a meter to the household it already serves
    changes nothing.
    """
    if at.tzinfo is None:
        raise InvalidLink(f"the link time {at.isoformat()} has no UTC offset")
    changes: list[str] = []
    mine = session.scalar(select(MeterLink).where(MeterLink.meter_id == meter_id, MeterLink.unlinked_at.is_(None)))
    if mine is not None and mine.household_id == household_id:
        return changes
    theirs = current_meter(session, household_id)
    for old, what in ((mine, f"meter {meter_id} moved from household {mine.household_id if mine else ''}"),
                      (theirs, f"meter {theirs.meter_id if theirs else ''} replaced by {meter_id}")):
        if old is None:
            continue
        if at <= old.linked_at:
            raise InvalidLink(
                f"meter {old.meter_id} was linked at {old.linked_at.isoformat()}; a change must come after that"
            )
        old.unlinked_at = at
        changes.append(what)
    session.flush()  # the unique indexes allow one current link per meter and per household
    session.add(MeterLink(meter_id=meter_id, household_id=household_id, linked_at=at))
    session.flush()
    changes.append(f"meter {meter_id} linked to household {household_id}")
    return changes


def unlink_meter(session: Session, *, meter_id: str, at: datetime) -> bool:
    """End the meter's current link (the meter was removed); False if it served no household."""
    link = session.scalar(select(MeterLink).where(MeterLink.meter_id == meter_id, MeterLink.unlinked_at.is_(None)))
    if link is None:
        return False
    if at <= link.linked_at:
        raise InvalidLink(f"meter {meter_id} was linked at {link.linked_at.isoformat()}; unlink it after that")
    link.unlinked_at = at
    session.flush()
    return True
