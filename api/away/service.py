"""Registering a household away; plain functions that know nothing of HTTP.

Admins, the community's secretary and the household's cadres may mark it away; property managers
and analysts may not (an absence is personal data). A window expires by itself at its end.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api import roles
from api.access import Scope
from api.errors import InvalidRequest
from store import away as store
from store.errors import NotFound
from store.models import AwayWindow, Role

KEEPERS = (Role.admin, Role.secretary, Role.cadre)
MAX_AWAY = timedelta(days=366)


def start_of(when: date | datetime, tz: ZoneInfo) -> datetime:
    """A date means from the start of that day, in the site's timezone."""
    return when if isinstance(when, datetime) else datetime.combine(when, time(), tz)


def end_of(when: date | datetime, tz: ZoneInfo) -> datetime:
    """A date means to the end of that day (she is due back the next morning), in the site's timezone."""
    return when if isinstance(when, datetime) else datetime.combine(when + timedelta(days=1), time(), tz)


def list_away(session: Session, *, scope: Scope, household_id: int, now: datetime,
              include_past: bool = False) -> list[AwayWindow]:
    """The household's windows by start: those not yet over, or all of them."""
    roles.require(scope, *KEEPERS, doing="see when a household is away")
    scope.ensure_household(session, household_id)
    return store.household_windows(session, household_id, ending_after=None if include_past else now)


def add_away(
    session: Session,
    *,
    scope: Scope,
    household_id: int,
    start: date | datetime,
    end: date | datetime,
    note: str | None,
    now: datetime,
    tz: ZoneInfo,
) -> AwayWindow:
    """Mark the household away from ``start`` to ``end`` (dates are whole days, both included)."""
    roles.require(scope, *KEEPERS, doing="mark a household away")
    scope.ensure_household(session, household_id)
    starts_at, ends_at = start_of(start, tz), end_of(end, tz)
    if ends_at <= now:
        raise InvalidRequest(f"the window ends at {ends_at.isoformat()}, which is already past; give a later end")
    if ends_at - starts_at > MAX_AWAY:
        raise InvalidRequest("a household may be marked away for at most a year at a time; give an earlier end")
    try:
        return store.add_away_window(session, household_id=household_id, starts_at=starts_at, ends_at=ends_at,
                                     note=note, user_id=scope.user.id, now=now)
    except store.InvalidAwayWindow as exc:
        raise InvalidRequest(str(exc)) from exc


def delete_away(session: Session, *, scope: Scope, window_id: int) -> None:
    """End a window early (she came back), or remove one entered by mistake."""
    roles.require(scope, *KEEPERS, doing="change when a household is away")
    window = session.get(AwayWindow, window_id)
    if window is None or window.household_id is None:
        raise NotFound(f"away window {window_id} does not exist")
    try:
        scope.ensure_household(session, window.household_id)
    except NotFound as exc:
        raise NotFound(f"away window {window_id} does not exist, or is not one of yours") from exc
    store.delete_away_window(session, window_id)
