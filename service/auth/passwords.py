"""Password hashing (argon2id) and the password policy (NIST SP 800-63B style)."""

from functools import cache

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from .django_hashes import is_django_hash, verify_django_password

MIN_LENGTH = 8
MAX_LENGTH = 1024
MIN_NAME_IN_PASSWORD = 3


class Passwords:
    """Hashes and checks passwords with argon2-cffi; built once per app."""

    def __init__(self, time_cost: int, memory_cost: int, parallelism: int) -> None:
        self.hasher = argon2.PasswordHasher(
            time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism
        )
        # Checked against when an account does not exist, so that a missing
        # account costs the same time as a wrong password.
        self._dummy_hash = self.hasher.hash("not a real password")

    def hash(self, password: str) -> str:
        return self.hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when ``password`` matches; never raises for a wrong or damaged hash.

        Hashes brought over from the old Django service are checked in their own format.
        """
        if is_django_hash(stored_hash):
            return verify_django_password(stored_hash, password)
        try:
            return self.hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones, or is Django's."""
        if is_django_hash(stored_hash):
            return True
        try:
            return self.hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def waste_time(self, password: str) -> None:
        """Do the work of one verification, for an account that does not exist."""
        self.verify(self._dummy_hash, password)


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's frequency lists, lower-cased."""
    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problems(password: str, username: str = "", email: str = "") -> list[str]:
    """What is wrong with ``password`` under the policy; an empty list when nothing is.

    Length limits, no common passwords, nothing built on the username or the
    email's local part. No composition rules: NIST advises against them.
    """
    if len(password) < MIN_LENGTH:
        return [f"Password must be at least {MIN_LENGTH} characters long."]
    if len(password) > MAX_LENGTH:
        return [f"Password must be at most {MAX_LENGTH} characters long."]
    folded = password.casefold()
    if folded in common_passwords():
        return ["This password is too common; choose one that is harder to guess."]
    local_part = email.rpartition("@")[0] if "@" in email else email
    for label, value in (("username", username), ("email address", local_part)):
        value = value.casefold()
        # Containment is only checked for names long enough for it to mean something:
        # a one-letter username would otherwise rule out most passwords.
        if value and (value == folded or (len(value) >= MIN_NAME_IN_PASSWORD and value in folded)):
            return [f"Password must not contain your {label}."]
    return []
