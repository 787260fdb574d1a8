"""Cookie mode (``JWT_REFRESH_COOKIE``): the refresh token in an HttpOnly cookie, with a CSRF double submit.

Only the mutations that take or hand out refresh tokens read or write these
cookies, through the request's ``RefreshCookie``. Nothing here identifies a
caller: access tokens travel only in the ``Authorization`` header.
"""

import hmac
import secrets
from dataclasses import dataclass

from flask import Request, Response

from .auth.tokens import unix_time
from .errors import BadUserInput, Forbidden
from .models import utcnow

REFRESH_COOKIE = "JWT-refresh-token"
# Sent back only to the endpoint that takes it.
REFRESH_COOKIE_PATH = "/graphql"
# Readable by the front end's scripts, which copy it into the CSRF header.
CSRF_COOKIE = "JWT-refresh-csrf"
CSRF_COOKIE_PATH = "/"
CSRF_HEADER = "X-CSRF-Token"
NO_COOKIE = (
    f"No refresh token: pass refreshToken, or send the {REFRESH_COOKIE} cookie a login set (sign in again)."
)
BAD_CSRF = f"The {CSRF_HEADER} header must equal the {CSRF_COOKIE} cookie to use the refresh-token cookie."


@dataclass
class RefreshCookie:
    """One request's refresh-token cookie: read only when a resolver asks, written into the answer.

    ``pending`` is what the answer does to the cookies: ``None`` nothing, a
    refresh token and its expiry (Unix seconds) to set, or ``""`` to expire them.
    """

    request: Request
    pending: tuple[str, int] | None = None

    def has_token(self) -> bool:
        """Whether the request carries a refresh-token cookie."""
        return bool(self.request.cookies.get(REFRESH_COOKIE))

    def token(self, *, check_csrf: bool = True) -> str:
        """The cookie's refresh token, once the CSRF header matches the CSRF cookie.

        ``BAD_USER_INPUT`` (field ``refreshToken``) without the cookie, ``FORBIDDEN`` without a
        match. Logging out skips the check (``check_csrf=False``): a forged logout can only sign
        the user out, and ``SameSite=Strict`` keeps other sites' requests from carrying the cookie.
        """
        raw = self.request.cookies.get(REFRESH_COOKIE)
        if not raw:
            raise BadUserInput({"refreshToken": [NO_COOKIE]})
        if not check_csrf:
            return raw
        expected = self.request.cookies.get(CSRF_COOKIE, "")
        sent = self.request.headers.get(CSRF_HEADER, "")
        # Encoded so that any text compares in constant time ("surrogatepass": no two differ alike).
        if not expected or not hmac.compare_digest(
            expected.encode(errors="surrogatepass"), sent.encode(errors="surrogatepass")
        ):
            raise Forbidden(BAD_CSRF)
        return raw

    def hand_out(self, refresh_token: str, expires_at: int) -> None:
        """Set ``refresh_token`` (valid until ``expires_at``, Unix seconds) as the cookie of the answer."""
        self.pending = (refresh_token, expires_at)

    def expire(self) -> None:
        """Expire both cookies in the answer."""
        self.pending = ("", 0)

    def expire_if_sent(self) -> None:
        """Expire both cookies if the request carries the refresh cookie: every session of the
        account has just ended (logging out everywhere, deleting the account), its own with them."""
        if self.has_token():
            self.expire()

    def apply(self, response: Response) -> None:
        """Write what the resolvers decided into ``response``: a new pair of cookies, or their expiry.

        A new refresh cookie comes with a new CSRF token, in its cookie and in
        the ``X-CSRF-Token`` response header (for a front end on another
        subdomain, whose scripts cannot read this host's cookies).
        """
        if self.pending is None:
            return
        refresh_token, expires_at = self.pending
        if not refresh_token:
            for name, path, httponly in _COOKIES:
                response.delete_cookie(name, path=path, secure=True, httponly=httponly, samesite="Strict")
            return
        max_age = max(0, expires_at - unix_time(utcnow()))
        csrf_token = secrets.token_urlsafe(32)
        for (name, path, httponly), value in zip(_COOKIES, (refresh_token, csrf_token), strict=True):
            response.set_cookie(
                name, value, max_age=max_age, path=path, secure=True, httponly=httponly, samesite="Strict"
            )
        response.headers[CSRF_HEADER] = csrf_token


# Each cookie's name, path and whether scripts are kept from it.
_COOKIES = ((REFRESH_COOKIE, REFRESH_COOKIE_PATH, True), (CSRF_COOKIE, CSRF_COOKIE_PATH, False))


def refresh_token_to_use(
    cookie: "RefreshCookie | None", argument: str | None, *, check_csrf: bool = True
) -> tuple[str, bool]:
    """The refresh token a mutation acts on, and whether it came from the cookie.

    The argument when given (old clients, cookie mode or not); in cookie mode
    an empty one counts as left out, since the answers carry ``""`` there.
    Left out, the cookie's, behind the CSRF check unless ``check_csrf`` is false
    (logging out); without cookie mode a left-out argument is ``BAD_USER_INPUT``.
    """
    if argument is not None and (argument or cookie is None):
        return argument, False
    if cookie is None:
        raise BadUserInput(
            {"refreshToken": ["Pass the refresh token: cookie mode (JWT_REFRESH_COOKIE) is off."]}
        )
    return cookie.token(check_csrf=check_csrf), True
