"""Relational records: the registry (communities to meters), users, alerts and their trail,
notifications, away windows and dead letters (SQLAlchemy 2 ORM, migrated by Alembic)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset of its own)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    admin = "admin"  # everything, every community
    secretary = "secretary"  # everything in her community: sets it up, and alerts escalate to her
    cadre = "cadre"  # the alerts, households and residents assigned to her
    property_manager = "property_manager"  # the meters of his buildings and their health; no residents
    analyst = "analyst"  # read-only, pseudonymous: readings and alert outcomes, no personal data


class AlertKind(enum.StrEnum):
    """What an alert is about; who acts on each kind is ``api.alerts.service.ACTS_ON``."""

    inactivity = "inactivity"  # the meter reports but nobody uses water
    meter_offline = "meter_offline"  # no reading arrives from one meter
    continuous_flow = "continuous_flow"  # water has run for hours: a tap left running, a leak
    unusual_pattern = "unusual_pattern"  # the daily routine drifted (severity info)
    fleet_outage = "fleet_outage"  # many meters silent at once: the pipeline, not the residents


FLEET = "*"
"""The meter_id of an alert about the whole fleet (a fleet outage) rather than one meter."""


class AlertStatus(enum.StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class Severity(enum.StrEnum):
    info = "info"
    warning = "warning"
    alarm = "alarm"


SEVERITY_RANK = {Severity.info: 0, Severity.warning: 1, Severity.alarm: 2}


class Outcome(enum.StrEnum):
    """What a person found when they resolved an alert: the fixed vocabulary analysts use as labels."""

    resident_fine = "resident_fine"
    resident_away = "resident_away"
    needed_help = "needed_help"
    emergency_called = "emergency_called"  # emergency services were called
    meter_fault = "meter_fault"
    false_alarm = "false_alarm"


class Community(Base):
    """A residents' committee's area: the unit of scope. No token of one community reads another's data."""

    __tablename__ = "communities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    # True: every cadre of the community sees all its households, not only those assigned to her.
    cadres_see_all: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (UniqueConstraint("community_id", "name", name="buildings_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. "3号楼"


class Household(Base):
    """A flat that anxin watches over; its readings come from whichever meter is linked to it."""

    __tablename__ = "households"
    __table_args__ = (UniqueConstraint("building_id", "unit", name="households_unit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    unit: Mapped[str] = mapped_column(String(50))  # the flat, e.g. "2-502"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Resident(Base):
    """The person watched over; only what a cadre needs to reach her: a name, phones, notes."""

    __tablename__ = "residents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(100))
    phones: Mapped[str] = mapped_column(Text, default="")  # comma-separated: her own, then her family's
    notes: Mapped[str] = mapped_column(Text, default="")


class MeterLink(Base):
    """A meter serving a household from ``linked_at`` until ``unlinked_at`` (None: still serving).

    Replacing a meter ends one link and starts another, so a household's history spans its meters.
    At most one meter serves a household at a time, and a meter serves one household at a time.
    """

    __tablename__ = "meter_links"
    __table_args__ = (
        Index("meter_links_current_meter", "meter_id", unique=True,
              sqlite_where=text("unlinked_at IS NULL"), postgresql_where=text("unlinked_at IS NULL")),
        Index("meter_links_current_household", "household_id", unique=True,
              sqlite_where=text("unlinked_at IS NULL"), postgresql_where=text("unlinked_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(64), index=True)
    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), index=True)
    linked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    unlinked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # None only for an admin, or an analyst of every community.
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True, index=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)  # scrypt, for the web page
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)  # to @-mention her in a group robot


class HouseholdCadre(Base):
    """Who looks after whom: a cadre assigned to a household."""

    __tablename__ = "household_cadres"

    household_id: Mapped[int] = mapped_column(ForeignKey("households.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class BuildingManager(Base):
    """A property manager's buildings."""

    __tablename__ = "building_managers"

    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the table only its hash."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Alert(Base):
    """One episode of one condition on one meter, from raising to resolution."""

    __tablename__ = "alerts"
    __table_args__ = (
        # One alert per episode, so a detector restart never raises the same episode twice.
        Index("alerts_episode", "meter_id", "kind", "started_at", unique=True),
        # One unresolved alert per meter and kind: never a storm.
        Index(
            "alerts_one_unresolved",
            "meter_id",
            "kind",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("alerts_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.open)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the condition began (data time)
    raised_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the evidence for it arrived
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # condition over
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolution_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)  # an Outcome, when a person resolved it
    # The household the meter served when the alert was raised: the alert's scope, even after a meter swap.
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), nullable=True, index=True)
    # Escalation: 0 the people it goes to first (cadres, property managers), 1 the secretary, 2 admins.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)  # last notice or reminder


class AlertEvent(Base):
    """The audit trail: every change to an alert, by whom (None: anxin itself) and when."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))  # an AlertAction
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class AlertAction(enum.StrEnum):
    raised = "raised"
    severity_raised = "severity_raised"  # the detector made it worse (a warning became an alarm)
    reopened = "reopened"  # someone had closed the episode, and it grew worse
    acknowledged = "acknowledged"
    resolved = "resolved"  # by a person, with an outcome
    auto_resolved = "auto_resolved"  # the condition ended
    noted = "noted"  # a person added a note
    escalated = "escalated"  # nobody acknowledged in time: handed up the chain
    reminded = "reminded"  # a reminder went out


class NotificationChannel(Base):
    """Where a user's notices go: a generic JSON webhook, a WeCom or a DingTalk group robot."""

    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # webhook, wecom, dingtalk
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # DingTalk's signing secret
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Delivery(Base):
    """One notice to one channel, with its retries: the outbox and the record of delivery."""

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("deliveries_due", "status", "next_attempt_at"),
        Index("deliveries_once", "dedupe_key", "channel_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    # What it is about, so the same notice is never queued twice: e.g. "alert:7:raised", "digest:3:2026-11-22".
    dedupe_key: Mapped[str] = mapped_column(String(200))
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), nullable=True, index=True)
    event: Mapped[str] = mapped_column(String(32))  # raised, escalated, reminder, digest
    payload: Mapped[str] = mapped_column(Text)  # the JSON body, as sent
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeadLetter(Base):
    """A payload, or one item of a batch, that the ingester could not accept, with the reason."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    topic: Mapped[str] = mapped_column(Text)
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    item_index: Mapped[int | None] = mapped_column(Integer, nullable=True)  # position in a batch array
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class AwayWindow(Base):
    """A time a household is registered as away: no inactivity alert is raised inside it."""

    __tablename__ = "away_windows"
    __table_args__ = (Index("away_windows_meter", "meter_id", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A window is a meter's (set by `anxin backtest --away` and older clients) or a household's
    # (set by a cadre): a household's applies to whichever meters served it during the window.
    meter_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    household_id: Mapped[int | None] = mapped_column(ForeignKey("households.id"), nullable=True, index=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
