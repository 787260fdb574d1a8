"""Checks and normal forms for usernames and email addresses."""

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

USERNAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
# The largest id an INTEGER column holds on every supported database.
MAX_ID = 2**31 - 1
# Letters and digits of any script, plus @ . + - _ (as Django allowed).
USERNAME_PATTERN = re.compile(r"[\w.@+-]+")


def normalize_username(raw: str) -> tuple[str, list[str]]:
    """The NFKC form of ``raw`` and what is wrong with it (an empty list when nothing)."""
    username = unicodedata.normalize("NFKC", raw)
    if not username:
        return username, ["Username is required."]
    if len(username) > USERNAME_MAX_LENGTH:
        return username, [f"Username must be at most {USERNAME_MAX_LENGTH} characters long."]
    if not USERNAME_PATTERN.fullmatch(username):
        return username, ["Username may contain only letters, digits and @ . + - _ characters."]
    return username, []


def normalize_email(raw: str) -> tuple[str, list[str]]:
    """The normalised form of ``raw`` (as email-validator gives it) and what is wrong with it."""
    email = raw.strip()
    if not email:
        return email, ["Email is required."]
    if len(email) > EMAIL_MAX_LENGTH:
        return email, [f"Email must be at most {EMAIL_MAX_LENGTH} characters long."]
    try:
        checked = validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return email, [f"Enter a valid email address: {error}"]
    return checked.normalized, []


def lookup_key(value: str) -> str:
    """The case-insensitive form that usernames and emails are unique and looked up by."""
    return unicodedata.normalize("NFKC", value).casefold()


def username_skeleton(username: str) -> str:
    """The form two usernames that look alike share (UTS #39's confusable skeleton, case-folded)."""
    return lookup_key(username)


def parse_id(raw: object) -> int | None:
    """The row id an ``ID`` argument or a token's ``sub`` names; ``None`` when it cannot be one."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
