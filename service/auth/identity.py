"""Who an access token (from the ``Authorization`` header or an argument) says the caller is."""

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..errors import TokenExpired, TokenInvalid, TokenRevoked
from ..extensions import db
from ..models import LoginSession, User
from .tokens import TokenSettings, decode_access_token, unix_time

SCHEMES = ("jwt", "bearer")


@dataclass(frozen=True)
class Identity:
    """The caller: a user, or nobody and why (``missing``, ``expired``, ``invalid``, ``revoked``)."""

    user: User | None = None
    failure: str | None = "missing"
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def session_id(self) -> int | None:
        return self.claims.get("sid")


ANONYMOUS = Identity()


def check_access_token(settings: TokenSettings, token: str) -> tuple[User, dict[str, Any]]:
    """The user and claims of a usable access token.

    Beyond the signature and expiry, the token's session must still be live
    and its user active, found with one primary-key join. The session must
    also be the very one the token was issued for: its random key and its
    login time must match the token's ``skey`` and ``origIat``. Raises
    ``TokenExpired``, ``TokenInvalid`` or ``TokenRevoked``.
    """
    claims = decode_access_token(settings, token)
    # A plain comparison of ``skey`` is enough: the claim sits under the signature, so nobody
    # can try keys one after another against it.
    row = db.session.execute(
        sa.select(User, LoginSession.revoked_at, LoginSession.session_key, LoginSession.created_at)
        .join(LoginSession, LoginSession.user_id == User.id)
        .where(User.id == int(claims["sub"]), LoginSession.id == claims["sid"])
    ).first()
    if (
        row is None
        or row.revoked_at is not None
        or not row.User.is_active
        or row.session_key != claims["skey"]
        or unix_time(row.created_at) != claims["origIat"]
    ):
        raise TokenRevoked("The token has been revoked.")
    return row.User, claims


def identify(settings: TokenSettings, authorization: str | None) -> Identity:
    """Read ``JWT <token>`` or ``Bearer <token>``; a bad header leaves the caller anonymous."""
    if not authorization or not authorization.strip():
        return ANONYMOUS
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in SCHEMES or not token:
        return Identity(failure="invalid")
    try:
        user, claims = check_access_token(settings, token)
    except TokenExpired:
        return Identity(failure="expired")
    except TokenInvalid:
        return Identity(failure="invalid")
    except TokenRevoked:
        return Identity(failure="revoked")
    return Identity(user=user, failure=None, claims=claims)
