"""JSON Web Tokens: issuing and checking access tokens with PyJWT."""

import base64
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import TokenExpired, TokenInvalid
from .validation import parse_id

# Claims every access token must carry to be accepted.
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "skey", "username", "origIat"]


@dataclass(frozen=True)
class TokenSettings:
    """The signing key and lifetimes, read from the config once when the app is created."""

    key: bytes
    algorithm: str
    access_lifetime: int
    refresh_lifetime: int
    issuer: str | None = None
    audience: str | None = None
    leeway: int = 0
    # Two refreshes of one token within this many seconds (two tabs) both succeed.
    reuse_interval: int = 10
    # A session ends this long after its login, however often it was refreshed.
    session_max_lifetime: int = 30 * 24 * 3600
    # A login beyond this many live sessions ends the user's oldest one.
    max_sessions_per_user: int = 50
    # Seals the successor of a rotated refresh token for the reuse window; derived from ``key``.
    successor_sealer: Fernet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "successor_sealer", successor_sealer(self.key))


def successor_sealer(key: bytes) -> Fernet:
    """The Fernet key that encrypts successor refresh tokens at rest: HKDF-SHA256 of the signing key."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"refresh-token-successor")
    derived = hkdf.derive(key)
    return Fernet(base64.urlsafe_b64encode(derived))


def unix_time(moment: datetime) -> int:
    return int(moment.timestamp())


def issue_access_token(
    settings: TokenSettings,
    *,
    user_id: int,
    username: str,
    session_id: int,
    session_key: str,
    session_started: datetime,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Sign an access token for a user's session; return it with its payload.

    ``origIat`` is when the session's login happened, kept across refreshes
    as django-graphql-jwt did; ``skey`` is the session's random key, which
    binds the token to that one session even if its id were ever reused.
    """
    issued_at = unix_time(now)
    payload: dict[str, Any] = {
        "username": username,
        "exp": issued_at + settings.access_lifetime,
        "origIat": unix_time(session_started),
        "iat": issued_at,
        "sub": str(user_id),
        "sid": session_id,
        "skey": session_key,
        "jti": uuid.uuid4().hex,
    }
    if settings.issuer:
        payload["iss"] = settings.issuer
    if settings.audience:
        payload["aud"] = settings.audience
    token = jwt.encode(payload, settings.key, algorithm=settings.algorithm)
    return token, payload


def decode_access_token(settings: TokenSettings, token: str) -> dict[str, Any]:
    """The payload of a valid access token.

    Only the configured algorithm is accepted (so ``alg: none`` and algorithm
    swaps fail), the signature and expiry are checked, and so are ``iss`` and
    ``aud`` when they are configured. Raises ``TokenExpired`` or ``TokenInvalid``.
    """
    try:
        payload = jwt.decode(
            token,
            settings.key,
            algorithms=[settings.algorithm],
            issuer=settings.issuer,
            audience=settings.audience,
            leeway=settings.leeway,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("The token has expired.") from None
    except jwt.InvalidTokenError:
        raise TokenInvalid("The token is not valid.") from None
    if not (
        parse_id(payload["sub"]) is not None
        and isinstance(payload["sid"], int)
        and isinstance(payload["skey"], str)
        and isinstance(payload["origIat"], int)
        and isinstance(payload["username"], str)
    ):
        raise TokenInvalid("The token is not valid.")
    return payload


def new_refresh_token() -> str:
    """An opaque refresh token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)
