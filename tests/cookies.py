"""Set-Cookie headers read attribute by attribute, and Cookie headers written by hand, for cookie mode.

Clients keep ``Secure`` cookies only over HTTPS, and the tests talk plain HTTP: they send the
``Cookie`` header themselves and check the raw ``Set-Cookie`` headers.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

REFRESH_COOKIE = "JWT-refresh-token"
CSRF_COOKIE = "JWT-refresh-csrf"


@dataclass(frozen=True)
class SetCookie:
    """One ``Set-Cookie`` header: the cookie's name and value, and its attributes by lower-case name."""

    name: str
    value: str
    attributes: dict[str, str]

    def has(self, flag: str) -> bool:
        return flag.lower() in self.attributes

    def __getitem__(self, attribute: str) -> str:
        return self.attributes[attribute.lower()]


def parse_set_cookies(headers: Iterable[str]) -> dict[str, SetCookie]:
    """The cookies of ``Set-Cookie`` headers, by name (each name must appear once)."""
    cookies: dict[str, SetCookie] = {}
    for header in headers:
        pair, *parts = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        attributes = {}
        for part in parts:
            attribute, _, attribute_value = part.partition("=")
            attributes[attribute.strip().lower()] = attribute_value.strip()
        assert name not in cookies, f"{name} set twice: {list(headers)}"
        cookies[name] = SetCookie(name, value, attributes)
    return cookies


def cookie_header(cookies: Mapping[str, str]) -> str:
    """A ``Cookie`` request header sending ``cookies``."""
    return "; ".join(f"{name}={value}" for name, value in cookies.items())
