"""JSON Web Tokens: issuing and checking access tokens with PyJWT."""

import base64
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import TokenExpired, TokenInvalid
from .keyring import KeyRing
from .keys import KeySet
from .validation import parse_id

# Claims every access token must carry to be accepted.
REQUIRED_CLAIMS = ["exp", "iat", "sub", "sid", "skey", "username", "origIat"]
# Tokens whose signature and claims were checked, kept per app: a client sends its token with
# every request until it expires, and PyJWT's work on it gives the same answer every time.
VERIFIED_TOKENS_CACHE_SIZE = 4096


@dataclass(frozen=True)
class TokenSettings:
    """The signing keys and lifetimes, read from the config once when the app is created."""

    # SECRET_KEY: the HMAC signing key under HS256/384/512, and under every algorithm the
    # root of the keys that seal successor refresh tokens and private signing keys.
    key: bytes
    algorithm: str
    # The keys that sign and verify: the HMAC key, or the database's key pairs (see ``keyring``).
    keys: KeyRing
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
    # The old Django service's SECRET_KEY and the Unix time until which its access tokens are
    # accepted (see ``legacy_tokens``); None when nothing old is accepted.
    legacy_key: bytes | None = field(default=None, repr=False)
    legacy_accept_until: int | None = None
    # Seals the successor of a rotated refresh token for the reuse window; derived from ``key``.
    successor_sealer: Fernet = field(init=False, repr=False, compare=False)
    # ``verified_claims`` remembered per key set and token, under this app's rules (see
    # ``decode_access_token``): once the keys change, every token is checked again.
    verified_claims: Callable[[KeySet, str], dict[str, Any]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "successor_sealer", successor_sealer(self.key))
        verified = lru_cache(maxsize=VERIFIED_TOKENS_CACHE_SIZE)(
            lambda keys, token: verified_claims(self, keys, token)
        )
        object.__setattr__(self, "verified_claims", verified)


def successor_sealer(key: bytes) -> Fernet:
    """The Fernet key that encrypts successor refresh tokens at rest: HKDF-SHA256 of ``SECRET_KEY``."""
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
    kid, key = settings.keys.for_signing().signing_key(time.time())
    token = jwt.encode(payload, key, algorithm=settings.algorithm, headers={"kid": kid})
    return token, payload


def decode_access_token(settings: TokenSettings, token: str) -> dict[str, Any]:
    """The payload of a valid access token.

    Only the configured algorithm and our own keys are accepted (so ``alg:
    none``, algorithm swaps, foreign keys and unknown or retired key ids
    fail), the signature and expiry are checked, and so are ``iss`` and
    ``aud`` when they are configured. Raises ``TokenExpired`` or ``TokenInvalid``.

    PyJWT checks a token the first time it is seen; a token it accepted is
    remembered, and then only its expiry can change the verdict, so only that is
    checked again (as PyJWT does, with the leeway). Refused tokens are not remembered.
    """
    keys = settings.keys.current()
    try:
        claims = settings.verified_claims(keys, token)
    except TokenInvalid:
        # Perhaps signed by a key rotated in since this worker last read the keys (at most one
        # read a second, whatever tokens are sent): check it once more against the fresh ones.
        fresher = settings.keys.fresher_than(keys)
        if fresher is None:
            raise
        claims = settings.verified_claims(fresher, token)
    if claims["exp"] <= time.time() - settings.leeway:
        raise TokenExpired("The token has expired.")
    return dict(claims)


def verified_claims(settings: TokenSettings, keys: KeySet, token: str) -> dict[str, Any]:
    """PyJWT's full check of ``token``: signature by the key its ``kid`` names among ``keys``,
    algorithm, expiry, issuer, audience, claims."""
    try:
        key = keys.verification_key(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise TokenInvalid("The token is not valid.")
        payload = jwt.decode(
            token,
            key,
            algorithms=[keys.algorithm],
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
        and isinstance(payload["exp"], int)
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
