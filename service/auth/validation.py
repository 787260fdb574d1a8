"""Checks and normal forms for usernames and email addresses."""

import hashlib
import re
import unicodedata
from functools import cache

from confusable_homoglyphs import categories
from confusable_homoglyphs.utils import load as load_confusables_data
from email_validator import EmailNotValidError, validate_email
from precis_i18n import get_profile

USERNAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254
# The size of the username_skeleton column; a skeleton can be 7 times as long as its name.
SKELETON_MAX_LENGTH = 600
# The largest id an INTEGER column holds on every supported database.
MAX_ID = 2**31 - 1
# Letters and digits of any script, plus @ . + - _ (as Django allowed).
USERNAME_PATTERN = re.compile(r"[\w.@+-]+")
# RFC 8264's IdentifierClass (the base of RFC 8265's username profiles) without the profiles'
# bidi rule, which would refuse a name such as ``ali_علی``: it refuses default-ignorable and
# invisible letters (Hangul fillers), old Hangul jamo, unassigned code points and the like.
IDENTIFIER_CLASS = get_profile("IdentifierClass")
# UTS #39 "moderately restrictive": Latin may go with any one other script but these two,
# and none of the three may go with another of them.
LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "CYRILLIC", "GREEK"})
# The right-to-left text in confusable-homoglyphs' data carries direction marks from the comments
# of confusables.txt it was read from; they are no part of the characters.
DIRECTION_MARKS = str.maketrans("", "", "\u200e\u200f")


def normalize_username(raw: str) -> tuple[str, list[str]]:
    """The NFKC form of ``raw`` and what is wrong with it (an empty list when nothing)."""
    username = unicodedata.normalize("NFKC", raw)
    if not username:
        return username, ["Username is required."]
    if len(username) > USERNAME_MAX_LENGTH:
        return username, [f"Username must be at most {USERNAME_MAX_LENGTH} characters long."]
    if not USERNAME_PATTERN.fullmatch(username):
        return username, ["Username may contain only letters, digits and @ . + - _ characters."]
    try:
        IDENTIFIER_CLASS.enforce(username)
    except UnicodeEncodeError as error:
        code = ord(username[error.start])
        return username, [f"Username must not contain invisible or ignorable characters (U+{code:04X})."]
    scripts = {categories.alias(char) for char in username} & LOOK_ALIKE_SCRIPTS
    if len(scripts) > 1:
        return username, ["Username must not mix Latin, Cyrillic and Greek letters."]
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
    """The form two usernames that look alike share (UTS #39's confusable skeleton, case-folded).

    ``Admin``, ``admin``, ``\u0430dmin`` (with a Cyrillic a) and ``adrnin`` share one. The case is folded
    after the skeleton is taken, so that ``I`` still looks like ``l``. Skeletons are only ever
    compared, so one too long for its column is kept as its SHA-256 digest.
    """
    skeleton = _skeleton(_skeleton(unicodedata.normalize("NFKC", username)).casefold())
    if len(skeleton) > SKELETON_MAX_LENGTH:
        return "sha256:" + hashlib.sha256(skeleton.encode()).hexdigest()
    return skeleton


def _skeleton(text: str) -> str:
    """UTS #39's skeleton: NFD, each character replaced by its prototype, NFD again."""
    prototypes = _confusable_prototypes()
    for _ in range(3):  # the prototypes are prototypes of themselves; this only guards that
        skeleton = unicodedata.normalize(
            "NFD", "".join(prototypes.get(char, char) for char in unicodedata.normalize("NFD", text))
        )
        if skeleton == text:
            break
        text = skeleton
    return text


@cache
def _confusable_prototypes() -> dict[str, str]:
    """Each confusable character's prototype, from confusables.txt as confusable-homoglyphs ships it.

    The package keeps each line of confusables.txt (character -> prototype) in both directions, so
    every class of look-alikes is one connected group: its prototype is the member linked to the
    most others, or its one multi-character member (``m`` -> ``rn``); ties go to the lowest.
    """
    parent: dict[str, str] = {}

    def root(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    links: dict[str, int] = {}
    for node, entries in load_confusables_data("confusables.json").items():
        node = node.translate(DIRECTION_MARKS)
        for entry in entries:
            other = entry["c"].translate(DIRECTION_MARKS)
            if node and other and node != other:
                parent[root(node)] = root(other)
                links[node] = links.get(node, 0) + 1
    groups: dict[str, list[str]] = {}
    for node in parent:
        groups.setdefault(root(node), []).append(node)
    prototypes: dict[str, str] = {}
    for members in groups.values():
        prototype = min(members, key=lambda node: (len(node) == 1, -links.get(node, 0), node))
        for member in members:
            if len(member) == 1 and member != prototype:
                prototypes[member] = prototype
    return prototypes


def parse_id(raw: object) -> int | None:
    """The row id an ``ID`` argument or a token's ``sub`` names; ``None`` when it cannot be one."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
