"""CSRF tokens for the console's forms, made without Flask's cookie session (which stays off).

Signed in, a form's token is an HMAC, under ``SECRET_KEY``, of the console
cookie's own value: the synchronizer-token pattern with the token derived
rather than stored, so it needs no column and dies with the sign-in. A page
on another site can neither read the cookie (``HttpOnly``) nor compute the
HMAC without the key; ``SameSite=Strict`` keeps browsers from sending the
cookie with such a page's forms in the first place.

Before signing in there is no session to derive from, so the login form uses
a signed double-submit cookie: ``GET /admin/login`` puts a random value in a
cookie of its own (``HttpOnly; Secure; SameSite=Strict; Path=/admin``) and
its HMAC in the form, and ``POST`` needs the two to match. A cookie planted by
a neighbouring host cannot come with a matching token without the key.

Flask-WTF is not used: its CSRF secret lives in Flask's session.
"""

import hashlib
import hmac
import re
import secrets

from flask import current_app, request
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"
LOGIN_COOKIE = "console_login_csrf"
SIGNED_IN = "signed-in"
LOGIN = "login"
SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
REFUSED = (
    "This form came without its security token, or with an old one. "
    "Go back, reload the page and send the form again."
)


def form_token(secret: str, purpose: str) -> str:
    """The token a form carries for ``secret`` (the console cookie, or the login form's cookie)."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"console-csrf\x1f{purpose}\x1f{secret}".encode(), hashlib.sha256).hexdigest()


def require_form_token(secret: str | None, purpose: str) -> None:
    """Refuse the request (400) unless its form carries the token of ``secret``, compared in constant time."""
    sent = request.form.get(FIELD, "")
    if not secret or not sent or not hmac.compare_digest(form_token(secret, purpose).encode(), sent.encode()):
        raise BadRequest(REFUSED)


def login_secret() -> str:
    """The login form's double-submit secret: the one in the browser's cookie, or a new one."""
    secret = request.cookies.get(LOGIN_COOKIE, "")
    return secret if SECRET_SHAPE.fullmatch(secret) else secrets.token_urlsafe(32)
