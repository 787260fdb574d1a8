"""The security event log: one row per thing that happened to an account's security.

Events are added to the caller's transaction, so an event is kept exactly when
the change it records is: the caller commits (or rolls back) both together.
"""

from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import SecurityEvent, utcnow

# Every kind of event, as the SDL's SecurityEventKind enum names them.
KINDS = (
    "LOGIN_SUCCEEDED",
    "LOGIN_FAILED",
    "LOCKED_OUT",
    "LOGGED_OUT",
    "LOGGED_OUT_EVERYWHERE",
    "SESSION_THEFT_DETECTED",
    "PASSWORD_CHANGED",
    "PASSWORD_RESET_REQUESTED",
    "PASSWORD_RESET",
    "EMAIL_CHANGE_REQUESTED",
    "EMAIL_CHANGED",
    "EMAIL_VERIFIED",
    "ACCOUNT_DELETED",
    "STAFF_CHANGED",
    "ACTIVE_CHANGED",
)


def record_event(
    kind: str,
    *,
    user_id: int | None,
    ip: str = "",
    user_agent: str = "",
    actor_id: int | None = None,
    now: datetime | None = None,
) -> SecurityEvent:
    """Add one event to the session (the caller commits). ``user_id`` None: no account matched."""
    if kind not in KINDS:
        raise ValueError(f"unknown security event kind {kind!r}")
    # PostgreSQL cannot store NUL in text; a header can still carry one.
    event = SecurityEvent(
        kind=kind,
        user_id=user_id,
        actor_id=actor_id,
        ip_address=ip.replace("\x00", "")[:45],
        user_agent=user_agent.replace("\x00", "")[:512],
        created_at=now or utcnow(),
    )
    db.session.add(event)
    return event


def events_page(
    *, first: int, before_id: int | None, user_id: int | None = None, kind: str | None = None
) -> tuple[list[SecurityEvent], bool]:
    """One page of events, newest first, older than ``before_id``; and whether more follow.

    Keyset pagination on the primary key (ids grow with time), served by the
    (user_id, id) and (kind, id) indexes: a page costs the same however deep it is.
    """
    query = sa.select(SecurityEvent).order_by(SecurityEvent.id.desc()).limit(first + 1)
    if user_id is not None:
        query = query.where(SecurityEvent.user_id == user_id)
    if kind is not None:
        query = query.where(SecurityEvent.kind == kind)
    if before_id is not None:
        query = query.where(SecurityEvent.id < before_id)
    events = list(db.session.scalars(query))
    return events[:first], len(events) > first


def recent_events(user_id: int, limit: int) -> list[SecurityEvent]:
    """The account's newest ``limit`` events (the staff console's account page)."""
    return events_page(first=limit, before_id=None, user_id=user_id)[0]


def purge_events(*, retention_days: int, now: datetime | None = None) -> int:
    """Delete the events older than ``retention_days``; return how many. Commits."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    removed = db.session.execute(sa.delete(SecurityEvent).where(SecurityEvent.created_at < cutoff)).rowcount
    db.session.commit()
    return removed
