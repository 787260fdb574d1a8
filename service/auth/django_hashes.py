"""Checking password hashes made by the old Django service, until each is replaced by argon2id.

Django stores ``<algorithm>$<fields>``. Each supported format is verified with the
standard library or the maintained package for it, with a constant-time comparison.
An unusable password (``!...``) or any other format never matches.
"""

import base64
import hashlib
import hmac

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHMS = ("pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt")
# Refuse work factors no real Django hash has, so a damaged row cannot stall a login.
MAX_PBKDF2_ITERATIONS = 100_000_000
MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024

_argon2 = argon2.PasswordHasher()


def is_django_hash(stored_hash: str) -> bool:
    """True for a hash in one of the formats this module checks (usable or not)."""
    return stored_hash.startswith("!") or stored_hash.partition("$")[0] in ALGORITHMS


def verify_django_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches a Django hash; never raises for a wrong or damaged hash."""
    algorithm, _, rest = stored_hash.partition("$")
    check = _CHECKS.get(algorithm)
    if check is None:
        return False
    try:
        return check(rest, password)
    except (ValueError, TypeError, OverflowError, MemoryError):
        return False


def _pbkdf2(digest: str):
    def check(rest: str, password: str) -> bool:
        iterations, salt, expected = rest.split("$")
        rounds = int(iterations)
        if not 0 < rounds <= MAX_PBKDF2_ITERATIONS:
            return False
        derived = hashlib.pbkdf2_hmac(digest, password.encode(), salt.encode(), rounds)
        return hmac.compare_digest(base64.b64encode(derived), expected.encode())

    return check


def _argon2_check(rest: str, password: str) -> bool:
    # Django writes argon2-cffi's own encoding behind its "argon2" prefix.
    try:
        return _argon2.verify("$" + rest, password)
    except (VerificationError, InvalidHashError):
        return False


def _bcrypt_sha256(rest: str, password: str) -> bool:
    # Django hashes the password with SHA-256 first, so bcrypt's 72-byte limit never cuts it.
    prehashed = hashlib.sha256(password.encode()).hexdigest().encode()
    return bcrypt.checkpw(prehashed, rest.encode("ascii"))


def _scrypt(rest: str, password: str) -> bool:
    work_factor, salt, block_size, parallelism, expected = rest.split("$")
    n, r, p = int(work_factor), int(block_size), int(parallelism)
    memory = 128 * r * (n + p + 2)
    if memory > MAX_SCRYPT_MEMORY:
        return False
    derived = hashlib.scrypt(
        password.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=2 * memory, dklen=64
    )
    return hmac.compare_digest(base64.b64encode(derived), expected.encode())


_CHECKS = {
    "pbkdf2_sha256": _pbkdf2("sha256"),
    "pbkdf2_sha1": _pbkdf2("sha1"),
    "argon2": _argon2_check,
    "bcrypt_sha256": _bcrypt_sha256,
    "scrypt": _scrypt,
}
