"""The signing keys in the database, and each worker's copy of them, reloaded every few seconds.

Under an asymmetric ``JWT_ALGORITHM`` the first worker to need a key makes
one; every worker and app server reads the same rows, so all sign with the
same key and pick up a rotation or retirement within ``JWT_KEYS_CACHE_SECONDS``.
A rotated-in key signs from the moment it is stored: a worker about to sign a
token uses keys at most a second old, and a worker handed a token whose ``kid``
it does not know yet reads the keys again at once (at most once a second), so
no worker refuses the new key's tokens while its copy is stale.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..extensions import db
from ..models import SigningKey, utcnow
from .keys import (
    KeySet,
    generate_private_key,
    hmac_key_set,
    load_public_pem,
    private_key_sealer,
    public_jwk,
    public_pem,
    seal_private_key,
    thumbprint,
    unseal_private_key,
)

log = logging.getLogger("service.keys")
TABLE = SigningKey.__table__
CREATE_ATTEMPTS = 5
# The PostgreSQL advisory lock that makes key-storing transactions take turns.
KEYS_LOCK = 0x5167_6E4B_6579
# A token naming a key this worker does not know makes it read the keys again, at most this often.
UNKNOWN_KID_RELOAD_SECONDS = 1.0
# Signing a token (a login, a refresh: rare next to checking one) uses keys read at most this long
# ago, so that a rotation signs at once on every worker, not only once each reads the keys again.
SIGNING_KEYS_MAX_AGE = 1.0


class SigningKeyError(Exception):
    """An operator's key command that cannot be done; the message says why."""


@dataclass(frozen=True)
class KeyRow:
    """A ``signing_keys`` row as ``flask keys list`` shows it."""

    kid: str
    algorithm: str
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None
    state: str


class KeyRing:
    """One app's signing keys: fixed for HMAC; for key pairs, the database's, cached per worker."""

    def __init__(
        self,
        algorithm: str,
        secret: bytes,
        cache_seconds: int,
        key_file_key: PrivateKeyTypes | None = None,
    ) -> None:
        self.algorithm = algorithm
        self.cache_seconds = cache_seconds
        self.asymmetric = not algorithm.startswith("HS")
        self.sealer = private_key_sealer(secret)
        self.file_key = key_file_key
        self.file_kid = thumbprint(key_file_key.public_key()) if key_file_key is not None else None
        self._lock = threading.Lock()
        self._parsed: dict[str, tuple[Any, Any]] = {}  # kid -> (public key, private key or None)
        self._keys: KeySet | None = None if self.asymmetric else hmac_key_set(algorithm, secret)
        self._due = float("inf") if self._keys is not None else 0.0
        self._loaded_at = float("-inf")
        self._forced_at = float("-inf")

    def current(self) -> KeySet:
        """The keys to use now; read again from the database when ``cache_seconds`` have passed."""
        keys = self._keys
        if keys is not None and time.monotonic() < self._due:
            return keys
        return self._reload()

    def fresher_than(self, keys: KeySet) -> KeySet | None:
        """Key pairs read again now, for a token naming a ``kid`` rotated in since ``keys`` were read;
        None when nothing newer is found, or when such a read was already forced in the last second."""
        if not self.asymmetric:
            return None
        if keys is not self._keys:
            return self._keys  # another thread has read them since
        if time.monotonic() - self._forced_at < UNKNOWN_KID_RELOAD_SECONDS:
            return None
        self._forced_at = time.monotonic()
        self.forget()
        fresher = self._reload()
        return fresher if fresher is not keys else None

    def for_signing(self) -> KeySet:
        """The keys to sign with: under key pairs, read again if older than ``SIGNING_KEYS_MAX_AGE``."""
        if self.asymmetric and time.monotonic() - self._loaded_at >= SIGNING_KEYS_MAX_AGE:
            self.forget()
        return self.current()

    def forget(self) -> None:
        """Read the keys from the database at the next use, whatever their age."""
        if self.asymmetric:
            self._due = 0.0

    def _reload(self) -> KeySet:
        with self._lock:
            if self._keys is not None and time.monotonic() < self._due:
                return self._keys  # another thread just did it
            try:
                keys = self._load()
            except sa.exc.SQLAlchemyError:
                if self._keys is None:
                    raise
                log.warning("The signing keys could not be read again; the ones loaded before stay in use")
                keys = self._keys
            if not keys.same_keys(self._keys):
                self._keys = keys  # a new set: tokens verified under the old one are checked again
            self._loaded_at = time.monotonic()
            self._due = self._loaded_at + self.cache_seconds
            return self._keys  # type: ignore[return-value]

    def _load(self) -> KeySet:
        rows = self._active_rows()
        if self.file_key is not None and self.file_kid not in {row.kid for row in rows}:
            self._record_file_key()
            rows = self._active_rows()
        elif self.file_key is None and not any(self._parse(row)[1] is not None for row in rows):
            # The first start under this algorithm, or a new SECRET_KEY that cannot unseal the old keys.
            self._create_signer(after=max((row.number for row in rows), default=0))
            rows = self._active_rows()
        verifying, signers, jwks = {}, [], []
        for row in rows:
            public, private = self._parse(row)
            verifying[row.kid] = public
            jwks.append(public_jwk(self.algorithm, row.kid, public))
            if private is not None and self.file_key is None:
                signers.append((row.signs_from.timestamp(), row.kid, private))
        if self.file_key is not None:
            if self.file_kid not in verifying:  # recorded once, then retired by hand: it signs all the same
                jwks.append(public_jwk(self.algorithm, self.file_kid, self.file_key.public_key()))
            verifying[self.file_kid] = self.file_key.public_key()
            signers = [(0.0, self.file_kid, self.file_key)]
        jwks.reverse()  # the newest key first
        return KeySet(self.algorithm, verifying, tuple(signers), {"keys": jwks})

    def _parse(self, row: Any) -> tuple[Any, Any]:
        """The row's public and private key objects, parsed once per worker (a kid's keys never change)."""
        parsed = self._parsed.get(row.kid)
        if parsed is None:
            sealed, private = row.private_key_sealed, None
            try:
                private = unseal_private_key(self.sealer, sealed) if sealed else None
            except InvalidToken:
                log.warning("Signing key %s was sealed under another SECRET_KEY: it only verifies", row.kid)
            parsed = self._parsed[row.kid] = (load_public_pem(row.public_key), private)
        return parsed

    def _active_rows(self) -> list[Any]:
        query = (
            sa.select(TABLE)
            .where(TABLE.c.algorithm == self.algorithm, TABLE.c.retired_at.is_(None))
            .order_by(TABLE.c.number)
        )
        with db.engine.connect() as connection:
            return list(connection.execute(query))

    def _insert(self, values: dict[str, Any], needed: Any = None) -> bool:
        """Store a key as the next ``number``; False if ``needed(connection)`` says it no longer is.

        ``needed`` is asked in the same transaction that reads the largest number,
        so of several processes inserting at once one wins the unique number and
        the others look again (and usually find that they need nothing any more).
        """
        for _ in range(CREATE_ATTEMPTS):
            try:
                with db.engine.begin() as connection:
                    _take_turns(connection)
                    if needed is not None and not needed(connection):
                        return False
                    number = (connection.scalar(sa.select(sa.func.max(TABLE.c.number))) or 0) + 1
                    connection.execute(TABLE.insert().values(number=number, **values))
                    return True
            except sa.exc.IntegrityError:
                continue  # another process took that number (or kid) meanwhile: look again
        raise SigningKeyError("Could not store a signing key: too many processes at once; try again.")

    def _new_key_values(self, signs_from: datetime) -> dict[str, Any]:
        private = generate_private_key(self.algorithm)
        return {
            "kid": thumbprint(private.public_key()),
            "algorithm": self.algorithm,
            "public_key": public_pem(private),
            "private_key_sealed": seal_private_key(self.sealer, private),
            "created_at": utcnow(),
            "signs_from": signs_from,
        }

    def _create_signer(self, after: int) -> None:
        """A key that signs at once, unless another process made one since key number ``after``."""

        def no_signer_yet(connection: sa.Connection) -> bool:
            query = sa.select(TABLE.c.kid).where(
                TABLE.c.algorithm == self.algorithm,
                TABLE.c.retired_at.is_(None),
                TABLE.c.private_key_sealed.is_not(None),
                TABLE.c.number > after,
            )
            return connection.scalar(query.limit(1)) is None

        self._insert(self._new_key_values(signs_from=utcnow()), no_signer_yet)

    def _record_file_key(self) -> None:
        """Keep the public half of the file's key, so that it verifies after the file changes."""
        assert self.file_key is not None and self.file_kid is not None
        now = utcnow()
        values = {
            "kid": self.file_kid,
            "algorithm": self.algorithm,
            "public_key": public_pem(self.file_key),
            "private_key_sealed": None,
            "created_at": now,
            "signs_from": now,
        }
        unknown = sa.select(TABLE.c.kid).where(TABLE.c.kid == self.file_kid)
        self._insert(values, lambda connection: connection.scalar(unknown) is None)

    # Operators' commands (``flask keys ...``): each reads the database afresh.

    def rows(self) -> list[KeyRow]:
        """Every key, oldest first, with its state: signing, verifying, retired or unused."""
        with db.engine.connect() as connection:
            rows = list(connection.execute(sa.select(TABLE).order_by(TABLE.c.number)))
        signer = self._signing_kid(rows)
        found = []
        for row in rows:
            if row.retired_at is not None:
                state = "retired"
            elif row.algorithm != self.algorithm:
                state = "unused"  # another JWT_ALGORITHM's key: it neither signs nor verifies
            elif row.kid == signer:
                state = "signing"
            else:
                state = "verifying"
            found.append(
                KeyRow(row.kid, row.algorithm, row.created_at, row.signs_from, row.retired_at, state)
            )
        return found

    def _signing_kid(self, rows: list[Any]) -> str | None:
        if not self.asymmetric:
            return None
        if self.file_key is not None:
            return self.file_kid
        now = utcnow()
        usable = [
            row
            for row in rows
            if row.algorithm == self.algorithm and row.retired_at is None and row.private_key_sealed
        ]
        ready = [row for row in usable if row.signs_from <= now] or usable[:1]
        return ready[-1].kid if ready else None

    def rotate(self) -> tuple[str, datetime]:
        """Make a new key that signs from now on; the older ones keep verifying until retired.

        Every worker signs with it from its next token on (see ``for_signing``); one
        handed its tokens before its copy of the keys is due reads them at once.
        """
        if not self.asymmetric:
            raise SigningKeyError(f"{self.algorithm} signs with SECRET_KEY: there is no key pair to rotate.")
        if self.file_key is not None:
            raise SigningKeyError(
                "The signing key comes from JWT_PRIVATE_KEY_FILE: rotate by putting a new key in that file "
                "and restarting; the old one keeps verifying until `flask keys retire`."
            )
        values = self._new_key_values(utcnow())
        self._insert(values)
        self.forget()  # this process sees it at once
        return values["kid"], values["signs_from"]

    def retire(self, kid: str) -> None:
        """Stop ``kid`` verifying (and leave the JWKS); refused for the key that signs now or next."""
        with db.engine.connect() as connection:
            rows = list(connection.execute(sa.select(TABLE).order_by(TABLE.c.number)))
        row = next((row for row in rows if row.kid == kid), None)
        if row is None:
            raise SigningKeyError(f"No signing key {kid!r}.")
        if row.retired_at is not None:
            raise SigningKeyError(f"The key {kid!r} is already retired.")
        if kid == self._signing_kid(rows):
            raise SigningKeyError(
                f"The key {kid!r} signs new tokens: run `flask keys rotate` first, and retire it "
                "once the new key signs."
            )
        with db.engine.begin() as connection:
            connection.execute(TABLE.update().where(TABLE.c.kid == kid).values(retired_at=utcnow()))
        self.forget()


def _take_turns(connection: sa.Connection) -> None:
    """Make transactions that store keys run one at a time, so that what one reads (is a key still
    needed? the largest number) holds until it commits. PostgreSQL: an advisory lock; SQLite,
    which lets one writer in at a time: a write that changes nothing, made first."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(KEYS_LOCK)))
    else:
        connection.execute(TABLE.update().where(sa.false()).values(number=TABLE.c.number))
