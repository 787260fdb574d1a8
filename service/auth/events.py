"""The security event log: one row per thing that happened to an account's security.

Events are added to the caller's transaction, so an event is kept exactly when
the change it records is: the caller commits (or rolls back) both together.
"""

from datetime import datetime

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
