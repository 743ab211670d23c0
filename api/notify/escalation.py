"""The escalation chain, and one round of notices for one open alert: raised, escalated, reminded.

==========  ======================================================================================
level 0     the people who act on the alert's kind (``api.alerts.service.ACTS_ON``) and whose slice
            holds its household: its cadres (every cadre of the community if it is set so) and the
            property managers of its building. A fleet outage: the property managers
level 1     the community's secretaries (a fleet outage: every community's)
level 2     the admins
==========  ======================================================================================

A level with nobody in it is skipped: an alert on a meter that serves no household goes to the
admins at once, and a household with no cadre to the secretary. Info alerts are never sent on
their own; they are in the daily digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.access import scope_for
from api.alerts.service import may_act
from api.notify.notices import alert_notice
from api.notify.outbox import enqueue
from api.settings import NotifySettings
from store.alerts import record_event
from store.models import (
    FLEET,
    Alert,
    AlertAction,
    AlertEvent,
    AlertStatus,
    Building,
    BuildingManager,
    Household,
    HouseholdCadre,
    Role,
    Severity,
    User,
)

TOP = 2
NOTIFIED = (Severity.warning, Severity.alarm)  # the severities notified one by one; info goes only into the digest


@dataclass(frozen=True, slots=True)
class Timing:
    escalate: timedelta | None  # None: never
    remind: timedelta | None


def timing(settings: NotifySettings, severity: str) -> Timing:
    """How long an open alert of ``severity`` waits before it escalates, and between reminders."""
    def minutes(value: float) -> timedelta | None:
        return timedelta(minutes=value) if value > 0 else None

    escalate = getattr(settings, f"{Severity(severity).value}_escalate_min")
    remind = getattr(settings, f"{Severity(severity).value}_remind_min")
    return Timing(minutes(escalate), minutes(remind))


def _first_responders(session: Session, alert: Alert) -> list[User]:
    if alert.meter_id == FLEET:
        candidates = select(User).where(User.role == Role.property_manager, User.community_id.is_not(None))
        return [u for u in session.scalars(candidates.order_by(User.id)) if may_act(u.role, alert.kind)]
    if alert.household_id is None:
        return []
    household = session.get(Household, alert.household_id)
    building = session.get(Building, household.building_id)
    candidates = select(User).where(or_(
        (User.role == Role.cadre) & (User.community_id == building.community_id),
        User.id.in_(select(HouseholdCadre.user_id).where(HouseholdCadre.household_id == household.id)),
        User.id.in_(select(BuildingManager.user_id).where(BuildingManager.building_id == building.id)),
    )).where(User.role.in_([Role.cadre, Role.property_manager]))
    out = []
    for user in session.scalars(candidates.order_by(User.id)):
        if not may_act(user.role, alert.kind):
            continue
        scope = scope_for(session, user)
        if session.scalar(select(Household.id).where(Household.id == household.id,
                                                     scope.household_visible(Household.id))) is not None:
            out.append(user)
    return out


def _community(session: Session, alert: Alert) -> int | None:
    if alert.household_id is None:
        return None
    return session.scalar(select(Building.community_id).join(Household, Household.building_id == Building.id)
                          .where(Household.id == alert.household_id))


def chain(session: Session, alert: Alert) -> dict[int, list[User]]:
    """Who ``alert`` goes to at each level (a level may be empty)."""
    secretaries = select(User).where(User.role == Role.secretary)
    if alert.meter_id == FLEET:
        secretaries = secretaries.where(User.community_id.is_not(None))
    else:
        community = _community(session, alert)
        secretaries = secretaries.where(User.community_id == community) if community is not None else None
    return {
        0: _first_responders(session, alert),
        1: list(session.scalars(secretaries.order_by(User.id))) if secretaries is not None else [],
        2: list(session.scalars(select(User).where(User.role == Role.admin).order_by(User.id))),
    }


def _next_level(levels: dict[int, list[User]], above: int) -> int | None:
    """The first level from ``above`` up with somebody in it."""
    return next((level for level in range(above, TOP + 1) if levels[level]), None)


@dataclass(slots=True)
class RoundReport:
    raised: int = 0
    escalated: int = 0
    reminded: int = 0
    worse: int = 0


def _send(session: Session, alert: Alert, users: list[User], *, event: str, key: str, now: datetime, tz: ZoneInfo,
          public_url: str) -> None:
    for user in users:
        notice = alert_notice(session, alert, user, event=event, public_url=public_url)
        enqueue(session, dedupe_key=key, user=user, notice=notice, now=now, tz=tz, alert_id=alert.id)


def _names(users: list[User]) -> str:
    return ", ".join(u.name for u in users)


def notify_round(
    session: Session, alert: Alert, *, now: datetime, settings: NotifySettings, tz: ZoneInfo, public_url: str,
    report: RoundReport,
) -> None:
    """Do what is due for ``alert`` at ``now``: the first notice, an escalation, a reminder, or nothing.

    Only open alerts get notices; once someone acknowledges or resolves an alert, they stop.
    """
    if alert.status != AlertStatus.open or alert.severity not in NOTIFIED:
        return
    out = {"now": now, "tz": tz, "public_url": public_url}
    if alert.notified_at is None:
        levels = chain(session, alert)
        level = _next_level(levels, alert.escalation_level)
        if level is None:
            return  # nobody at all (no admin yet): tried again next round
        if level != alert.escalation_level:
            alert.escalation_level, alert.escalated_at = level, now
            record_event(session, alert=alert, action=AlertAction.escalated, user_id=None, now=now,
                         detail=f"level {level} ({_names(levels[level])}): nobody below looks after it")
        _send(session, alert, levels[level], event="raised", key=f"alert:{alert.id}:raised", **out)
        alert.notified_at = now
        report.raised += 1
        return
    worse = session.scalar(select(AlertEvent).where(
        AlertEvent.alert_id == alert.id, AlertEvent.at > alert.notified_at,
        AlertEvent.action.in_([AlertAction.severity_raised, AlertAction.reopened]),
    ).order_by(AlertEvent.id.desc()).limit(1))
    if worse is not None:  # the detector made it worse since the last notice: say so at once
        levels = chain(session, alert)
        _send(session, alert, levels[alert.escalation_level], event="worse", key=f"alert:{alert.id}:worse:{worse.id}",
              **out)
        alert.notified_at = now
        report.worse += 1
        return
    when = timing(settings, alert.severity)
    since = alert.escalated_at or max(alert.created_at, alert.raised_at)
    if when.escalate is not None and now - since >= when.escalate and alert.escalation_level < TOP:
        levels = chain(session, alert)
        level = _next_level(levels, alert.escalation_level + 1)
        if level is not None:
            alert.escalation_level, alert.escalated_at, alert.notified_at = level, now, now
            record_event(session, alert=alert, action=AlertAction.escalated, user_id=None, now=now,
                         detail=f"level {level} ({_names(levels[level])}): not acknowledged in time")
            _send(session, alert, levels[level], event="escalated", key=f"alert:{alert.id}:escalated:{level}", **out)
            report.escalated += 1
            return
    if when.remind is not None and now - alert.notified_at >= when.remind:
        users = chain(session, alert)[alert.escalation_level]
        n = 1 + (session.scalar(select(func.count()).select_from(AlertEvent).where(
            AlertEvent.alert_id == alert.id, AlertEvent.action == AlertAction.reminded)) or 0)
        alert.notified_at = now
        record_event(session, alert=alert, action=AlertAction.reminded, user_id=None, now=now,
                     detail=f"reminder {n} to level {alert.escalation_level} ({_names(users)})")
        _send(session, alert, users, event="reminder", key=f"alert:{alert.id}:reminder:{n}", **out)
        report.reminded += 1


def due_alert_ids(session: Session, *, now: datetime, settings: NotifySettings) -> list[int]:
    """The open alerts for which ``notify_round`` may have something to do at ``now``.

    Every open alert is a candidate, but in a city most of them have nothing due in a given round:
    looking at each in its own transaction made a round of 70,000 open alerts last minutes. This
    query mirrors the conditions of ``notify_round`` (never narrower): no notice yet, worse since
    the last notice, an escalation due, or a reminder due.
    """
    worse = select(AlertEvent.id).where(
        AlertEvent.alert_id == Alert.id, AlertEvent.at > Alert.notified_at,
        AlertEvent.action.in_([AlertAction.severity_raised, AlertAction.reopened])).exists()
    due = [Alert.notified_at.is_(None), worse]
    for severity in NOTIFIED:
        when = timing(settings, severity)
        timed = []
        if when.escalate is not None:
            cutoff = now - when.escalate  # since = escalated_at, or else the later of created_at and raised_at
            timed.append(and_(Alert.escalation_level < TOP, or_(
                Alert.escalated_at <= cutoff,
                and_(Alert.escalated_at.is_(None), Alert.created_at <= cutoff, Alert.raised_at <= cutoff))))
        if when.remind is not None:
            timed.append(Alert.notified_at <= now - when.remind)
        if timed:
            due.append(and_(Alert.severity == severity, or_(*timed)))
    return list(session.scalars(select(Alert.id).where(
        Alert.status == AlertStatus.open, Alert.severity.in_(NOTIFIED), or_(*due)).order_by(Alert.id)))

