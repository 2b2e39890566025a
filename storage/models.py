"""SQLAlchemy 2 typed tables. The schema itself is created only by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes stored as UTC; SQLite's naive values come back marked UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UtcDateTime()}


class District(Base):
    __tablename__ = "districts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="")
    tutoring_supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))


class School(Base):
    __tablename__ = "schools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    stage: Mapped[str] = mapped_column(String(16), default="")
    aliases: Mapped[str] = mapped_column(Text, default="")  # "|"-separated
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)


class Institution(Base):
    __tablename__ = "institutions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    licensed: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16), default="")
    aliases: Mapped[str] = mapped_column(Text, default="")
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)


class Person(Base):
    """A supervisor (role responsible|tutoring) or office staff member (role staff)."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(32), default="")
    role: Mapped[str] = mapped_column(String(16))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    bound_at: Mapped[datetime | None]
    night_pings: Mapped[bool] = mapped_column(Boolean, default=False)


class Invite(Base):
    __tablename__ = "invites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class WebLogin(Base):
    """A one-time console login link sent by /web: the token's hash, never the token."""

    __tablename__ = "web_logins"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class ReferenceCounter(Base):
    """Last issued sequence number per prefix and year (row-locked while a case is filed)."""

    __tablename__ = "reference_counters"
    prefix: Mapped[str] = mapped_column(String(8), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class CaseRow(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    confidence: Mapped[float] = mapped_column(Float)
    model_version: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text)
    reporter_user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean)
    reporter_name: Mapped[str | None] = mapped_column(String(50))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institutions.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(ForeignKey("districts.id"), index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    disposition: Mapped[str | None] = mapped_column(String(16))
    disposition_note: Mapped[str] = mapped_column(Text, default="")
    transfer_to: Mapped[str] = mapped_column(String(100), default="")
    rectify_deadline: Mapped[date | None] = mapped_column(Date)
    supervised_at: Mapped[datetime | None]
    rating: Mapped[str | None] = mapped_column(String(32))
    rating_comment: Mapped[str] = mapped_column(Text, default="")
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(index=True)
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # A duplicate merged into another case follows it (its parent gets that case's updates).
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    __table_args__ = (
        # Scheduler: overdue rectifications and pending clocks by status.
        Index("ix_cases_status_deadline", "status", "rectify_deadline"),
        Index("ix_cases_assignee_status", "assignee_id", "status"),
        Index("ix_cases_status_updated", "status", "updated_at"),
        # The web console's keyset-paged lists (newest first) per status and per supervisor.
        Index("ix_cases_status_id", "status", "id"),
        Index("ix_cases_assignee_id", "assignee_id", "id"),
        Index("ix_cases_category_id", "category", "id"),
    )


class CaseLookRow(Base):
    """What the scheduler keeps per case, apart from the case row: a narrow table, so that
    moving a look rewrites a small row and three indexes, not a case and all of its."""

    __tablename__ = "case_looks"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    # The day the scheduler next looks at the case's stage clocks (NULL: nothing runs).
    remind_on: Mapped[date | None] = mapped_column(Date)
    # What the clock pass found: the supervisor's longest-overdue clock and staff's earliest
    # running one, each with its due day. The daily reminders read these through their
    # indexes, not the case history.
    overdue_sv_since: Mapped[date | None] = mapped_column(Date)
    overdue_sv_clock: Mapped[str | None] = mapped_column(String(16))
    staff_due_on: Mapped[date | None] = mapped_column(Date)
    staff_due_clock: Mapped[str | None] = mapped_column(String(16))
    __table_args__ = (
        Index("ix_case_looks_remind_on", "remind_on", "case_id"),
        Index("ix_case_looks_overdue_sv", "overdue_sv_since"),
        Index("ix_case_looks_staff_due", "staff_due_on"),
    )


class CaseEventRow(Base):
    """Append-only audit trail; triggers created by the migration refuse UPDATE and DELETE."""

    __tablename__ = "case_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    seq: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_events_case_seq"),)


class EvidenceRow(Base):
    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # photo | document
    file_id: Mapped[str] = mapped_column(String(255))
    file_unique_id: Mapped[str] = mapped_column(String(128), default="")
    mime_type: Mapped[str] = mapped_column(String(100), default="")
    file_name: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    added_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    # The original kept in the evidence directory (by content hash) and its size; the
    # Telegram file id of the copy without metadata; when the retention job deleted it.
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    stored_size: Mapped[int | None] = mapped_column(Integer)
    clean_file_id: Mapped[str | None] = mapped_column(String(255))
    purged_at: Mapped[datetime | None]


class VisitRow(Base):
    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"))
    visit_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    photo_file_id: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_visits_school_date", "school_id", "visit_date"),)


class InstitutionVisitRow(Base):
    """A liaison supervisor's visit to a tutoring institution (联系督导)."""

    __tablename__ = "institution_visits"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    supervisor_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    visit_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    photo_file_id: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_institution_visits_institution_date", "institution_id",
                            "visit_date"),)


class CorrectionRow(Base):
    """A staff category correction, kept as a labelled example for retraining."""

    __tablename__ = "corrections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    old_category: Mapped[str] = mapped_column(String(32))
    new_category: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OutboxRow(Base):
    """A message to deliver, written in the same transaction as the change it reports.

    `dedup_key` makes reminders idempotent: the scheduler may compute the same ping twice
    (restart, second instance) but only one row can exist, so it is sent once.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    # Where it goes: "telegram" (chat_id is a Telegram chat) or a group robot, "dingtalk" or
    # "wecom" (chat_id is the robot's number in its [channels] list, from 1).
    channel: Mapped[str] = mapped_column(String(16), default="telegram",
                                         server_default="telegram")
    text: Mapped[str] = mapped_column(Text)  # rows queued before 0003: the text itself
    markup: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # and their buttons
    notice: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # bot.ports.Notice as JSON
    dedup_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    not_before: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "not_before"),)


class ProcessedUpdate(Base):
    """A Telegram update id taken in (webhook mode), kept for a day: a redelivered update
    is answered 200 and not processed again, whichever instance it reaches."""

    __tablename__ = "processed_updates"
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seen_at: Mapped[datetime] = mapped_column(index=True)
