"""Cursor pages shared by the connections (``users``, ``securityEvents``, ``auditEvents``):
the page size and the opaque cursors, each naming the row a page ended on."""

import base64
import binascii

from ..auth.admin import PAGE_MAX
from ..auth.validation import parse_id
from ..errors import BadUserInput

PAGE_DEFAULT = 20


def page_size_problems(first: int) -> list[str]:
    """What is wrong with ``first`` (1 to ``PAGE_MAX``); nothing when it is right."""
    return [] if 1 <= first <= PAGE_MAX else [f"first must be between 1 and {PAGE_MAX}."]


def encode_cursor(prefix: str, row_id: int) -> str:
    """An opaque cursor: clients pass it back, they need not read it."""
    return base64.urlsafe_b64encode(f"{prefix}{row_id}".encode()).decode()


def decode_cursor(prefix: str, cursor: str) -> int:
    """The row id in a cursor ``encode_cursor(prefix, ...)`` made, or ``BAD_USER_INPUT`` naming ``after``."""
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    row_id = parse_id(text.removeprefix(prefix)) if text.startswith(prefix) else None
    if row_id is None:
        raise BadUserInput({"after": ["Not a cursor this service gave out; use a page's endCursor."]})
    return row_id
