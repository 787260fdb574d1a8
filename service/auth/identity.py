"""Who an ``Authorization`` header value says the caller is."""

from dataclasses import dataclass, field
from typing import Any

from ..errors import TokenExpired, TokenInvalid
from ..extensions import db
from ..models import User
from .tokens import TokenSettings, decode_access_token

SCHEMES = ("jwt", "bearer")


@dataclass(frozen=True)
class Identity:
    """The caller: a user, or nobody and why (``missing``, ``expired``, ``invalid``, ``revoked``)."""

    user: User | None = None
    failure: str | None = "missing"
    claims: dict[str, Any] = field(default_factory=dict)


ANONYMOUS = Identity()


def identify(settings: TokenSettings, authorization: str | None) -> Identity:
    """Read ``JWT <token>`` or ``Bearer <token>``; load the user with one primary-key lookup."""
    if not authorization or not authorization.strip():
        return ANONYMOUS
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in SCHEMES or not token:
        return Identity(failure="invalid")
    try:
        claims = decode_access_token(settings, token)
    except TokenExpired:
        return Identity(failure="expired")
    except TokenInvalid:
        return Identity(failure="invalid")
    user = db.session.get(User, int(claims["sub"]))
    if user is None or not user.is_active:
        return Identity(failure="revoked")
    return Identity(user=user, failure=None, claims=claims)
