"""Relational records: users, alerts, away windows and dead letters (SQLAlchemy 2 ORM, migrated by Alembic)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
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
    admin = "admin"
    cadre = "cadre"
    property_manager = "property_manager"
    analyst = "analyst"


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


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


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
    meter_id: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
