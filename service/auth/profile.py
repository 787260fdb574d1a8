"""Changing one's own profile: text fields, email, and the profile picture."""

from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import BadUserInput
from ..extensions import db
from ..mail import SUPPORTED_LANGUAGES
from ..models import GENDERS, User, utcnow
from ..uploads import UploadSettings, delete_picture, store_picture
from .account_mail import send_email_changed_notice, send_verification_mail
from .accounts import duplicate_problems, lock_identifiers
from .email_tokens import EmailSettings
from .events import record_event
from .validation import lookup_key, normalize_email

TEXT_FIELDS = {
    "first_name": "firstName",
    "last_name": "lastName",
    "position": "position",
    "department": "department",
}
TEXT_MAX_LENGTH = 150


def update_profile(
    user: User,
    changes: dict[str, Any],
    *,
    picture: IO[bytes] | None = None,
    remove_picture: bool = False,
    uploads: UploadSettings,
    mail: EmailSettings,
    ip: str = "",
    user_agent: str = "",
) -> User:
    """Apply ``changes`` (snake_case names; ``None`` means unchanged) and the picture, all or nothing.

    A new email address (the old clients' way to change it) is unverified: a verification
    link goes to it, a notice to the old one, and an ``EMAIL_CHANGED`` event is recorded.

    The new picture is written before the commit and deleted again if the
    commit fails; the old picture's file is deleted only after it succeeds.
    The picture column changes only if it still holds what this request read
    (compare-and-set), so of two parallel changes one wins and the other
    fails, leaving no file that nobody references.
    """
    values, problems = _checked_values(user, changes)
    if picture is not None and remove_picture:
        problems["profilePicture"] = ["Send either a new picture or removeProfilePicture, not both."]
    if problems:
        raise BadUserInput(problems)

    old_picture, old_email = user.profile_picture, user.email
    moves_address = "email_key" in values and values["email_key"] != user.email_key
    new_picture = store_picture(picture, uploads) if picture is not None else None
    changes_picture = new_picture is not None or remove_picture
    try:
        for name, value in values.items():
            setattr(user, name, value)
        if moves_address:
            _announce_new_address(user, old_email, mail, ip=ip, user_agent=user_agent)
        if changes_picture and not _swap_picture(user.id, old_picture, new_picture):
            raise BadUserInput({"profilePicture": [PICTURE_RACE_MESSAGE]})
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        delete_picture(uploads.folder, new_picture)
        raise BadUserInput({"email": ["A user with that email already exists."]}) from None
    except Exception:
        db.session.rollback()
        delete_picture(uploads.folder, new_picture)
        raise
    if changes_picture:
        delete_picture(uploads.folder, old_picture)
    return user


def _announce_new_address(
    user: User, old_email: str, mail: EmailSettings, *, ip: str, user_agent: str
) -> None:
    """The legacy email change: unverified, a link to the new address, a notice to the old (no commit)."""
    now = utcnow()
    user.is_verified = False
    send_verification_mail(mail, user, now=now)
    send_email_changed_notice(user, old_email=old_email, new_email=user.email)
    record_event("EMAIL_CHANGED", user_id=user.id, ip=ip, user_agent=user_agent, now=now)


PICTURE_RACE_MESSAGE = "Another request changed the picture at the same time; send it again."


def _swap_picture(user_id: int, old: str | None, new: str | None) -> bool:
    """Set the user's picture to ``new`` if it is still ``old``; False if another request changed it."""
    still_old = User.profile_picture.is_(None) if old is None else User.profile_picture == old
    swapped = db.session.execute(
        sa.update(User)
        .where(User.id == user_id, still_old)
        .values(profile_picture=new)
        .execution_options(synchronize_session=False)
    ).rowcount
    return swapped == 1


def _checked_values(user: User, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    values: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, field in TEXT_FIELDS.items():
        value = changes.get(name)
        if value is None:
            continue
        value = value.strip()
        if "\x00" in value:
            # PostgreSQL cannot store NUL in text.
            problems[field] = [f"{field} must not contain the NUL character."]
        elif len(value) > TEXT_MAX_LENGTH:
            problems[field] = [f"{field} must be at most {TEXT_MAX_LENGTH} characters long."]
        values[name] = value
    if changes.get("gender") is not None:
        gender = changes["gender"].strip().upper()
        if not gender:  # "" clears it; null leaves it as it is
            values["gender"] = None
        elif gender in GENDERS:
            values["gender"] = gender
        else:
            allowed = ", ".join(GENDERS)
            problems["gender"] = [f"Gender must be one of {allowed} (in any case)."]
    if changes.get("language") is not None:
        language = changes["language"].strip().lower()
        if language in SUPPORTED_LANGUAGES:
            values["language"] = language
        else:
            problems["language"] = [f"Language must be one of {', '.join(SUPPORTED_LANGUAGES)}."]
    if changes.get("email") is not None:
        email, email_problems = normalize_email(changes["email"])
        if not email_problems and lookup_key(email) != user.email_key:
            # Another account's username counts as taken too (one namespace of login identifiers).
            lock_identifiers(email=email)
            taken = duplicate_problems(username=None, email=email, exclude_id=user.id)
            email_problems = taken.get("email", [])
        if email_problems:
            problems["email"] = email_problems
        else:
            values["email"], values["email_key"] = email, lookup_key(email)
    return values, problems
