"""Access tokens signed by the old Django service (django-graphql-jwt), accepted during a cutover.

They are HS256 tokens of ``{username, exp, origIat}`` signed with the old ``SECRET_KEY``
(``LEGACY_JWT_SECRET_KEY``), usable until their own ``exp`` or ``LEGACY_JWT_ACCEPT_UNTIL``,
whichever comes first. Only tried when a token fails our own checks.
"""

import time
from typing import Any

import jwt

from ..errors import TokenExpired, TokenInvalid
from .tokens import TokenSettings

LEGACY_ALGORITHM = "HS256"
LEGACY_REQUIRED_CLAIMS = ["username", "exp", "origIat"]


def decode_legacy_access_token(settings: TokenSettings, token: str) -> dict[str, Any]:
    """The payload of an old service's token still accepted; ``TokenExpired`` once its time
    (or the cutover window) is over, ``TokenInvalid`` when no old key is set or it does not verify."""
    if settings.legacy_key is None or settings.legacy_accept_until is None:
        raise TokenInvalid("The token is not valid.")
    try:
        payload = jwt.decode(
            token,
            settings.legacy_key,
            algorithms=[LEGACY_ALGORITHM],
            leeway=settings.leeway,
            options={"require": LEGACY_REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise TokenInvalid("The token is not valid.") from None
    if not (
        isinstance(payload["username"], str)
        and isinstance(payload["exp"], int)
        and isinstance(payload["origIat"], int)
    ):
        raise TokenInvalid("The token is not valid.")
    if time.time() >= settings.legacy_accept_until:
        raise TokenExpired("The token has expired.")
    return payload
