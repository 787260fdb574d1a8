"""The console's pages: signing in and out, the list of accounts, one account."""

from datetime import datetime
from typing import Any

from flask import Response, current_app, g, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import BadRequest, NotFound

from ..auth.admin import SEARCH_MAX_LENGTH, users_page
from ..auth.console import allowed_actions, console_session_ids, sign_in_to_console, sign_out_of_console
from ..auth.events import recent_events
from ..auth.sessions import live_sessions
from ..auth.validation import parse_id
from ..errors import InvalidCredentials, RateLimited
from ..extensions import db
from ..models import User, utcnow
from . import bp
from .access import (
    SESSION_COOKIE,
    client_details,
    current_visit,
    delete_console_cookie,
    set_console_cookie,
    staff_required,
)
from .csrf import LOGIN, LOGIN_COOKIE, SIGNED_IN, form_token, login_secret, require_form_token

PAGE_SIZE = 50
# The account page lists this many of the account's newest security events.
RECENT_EVENTS = 20
FLAGS = {"": None, "true": True, "false": False}
# What the account page says after each action (``?done=``).
DONE = {
    "deactivate": "The account was deactivated; its sessions have ended.",
    "activate": "The account was activated.",
    "staff": "Staff rights changed.",
    "password": "The temporary password was set; every session of the account has ended.",
    "revoke-session": "The session has ended.",
    "revoke-all": "Every session of the account has ended.",
}


@bp.app_template_filter("console_time")
def console_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "never"


@bp.get("/")
def index() -> Response:
    return redirect(url_for("console.users"), 303)


@bp.get("/login")
def login() -> Response:
    if current_visit() is not None:
        return redirect(url_for("console.users"), 303)
    return _login_page(login_secret())


@bp.post("/login")
def log_in() -> Response:
    """Same rules and limits as ``tokenAuth``; only active staff and superusers get in."""
    secret = request.cookies.get(LOGIN_COOKIE)
    require_form_token(secret, LOGIN)
    if (earlier := current_visit()) is not None:  # a sign-in from a stale form replaces the live one
        sign_out_of_console(earlier, **client_details())
    username = request.form.get("username", "")
    lifetime = current_app.config["ADMIN_SESSION_LIFETIME"]
    try:
        visit = sign_in_to_console(
            current_app.extensions["auth"],
            username=username,
            password=request.form.get("password", ""),
            lifetime=lifetime,
            **client_details(),
        )
    except InvalidCredentials as error:
        return _login_page(secret, username=username, problem=error.message, status=200)
    except RateLimited as error:
        response = _login_page(secret, username=username, problem=error.message, status=429)
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    response = redirect(url_for("console.users"), 303)
    g.console_cookie_ended = False  # the new cookie replaces it
    # The login form's cookie stays: a form still open in another tab can still be sent.
    set_console_cookie(response, SESSION_COOKIE, visit.token, max_age=lifetime)
    return response


@bp.post("/logout")
@staff_required
def log_out() -> Response:
    visit = current_visit()
    require_form_token(visit.token, SIGNED_IN)
    sign_out_of_console(visit, **client_details())
    response = redirect(url_for("console.login"), 303)
    g.console_cookie_ended = False
    delete_console_cookie(response, SESSION_COOKIE)
    return response


@bp.get("/users")
@staff_required
def users() -> str:
    """Accounts in id order, a page at a time (keyset), searched and filtered."""
    search = request.args.get("q", "").strip()
    if len(search) > SEARCH_MAX_LENGTH or "\x00" in search:
        raise BadRequest(f"Search for at most {SEARCH_MAX_LENGTH} characters (and no NUL).")
    filters = {name: request.args.get(name, "") for name in ("active", "staff")}
    if any(value not in FLAGS for value in filters.values()):
        raise BadRequest("The active and staff filters are true, false or empty.")
    after = request.args.get("after")
    after_id = parse_id(after) if after else None
    if after and after_id is None:
        raise BadRequest("after must be the id of the last account of the previous page.")
    found, more = users_page(
        first=PAGE_SIZE,
        after_id=after_id,
        search=search or None,
        active=FLAGS[filters["active"]],
        staff=FLAGS[filters["staff"]],
    )
    query = {"q": search or None, **{name: value or None for name, value in filters.items()}}
    next_page = url_for("console.users", **query, after=found[-1].id) if more else None
    first_page = url_for("console.users", **query) if after_id is not None else None
    return render_template(
        "console/users.html",
        users=found,
        search=search,
        filters=filters,
        next_page=next_page,
        first_page=first_page,
    )


@bp.get("/users/<user_id>")
@staff_required
def account(user_id: str) -> str:
    user = account_or_404(user_id)
    return account_page(user, notice=DONE.get(request.args.get("done", "")))


def account_or_404(raw_id: str) -> User:
    user_id = parse_id(raw_id)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound("No account has this id.")
    return user


def account_page(user: User, *, notice: str | None = None, problems: list[str] | None = None) -> Any:
    """The account's profile, picture, live sessions, recent security events and what the visitor
    may do to it."""
    sessions = live_sessions(current_app.extensions["auth"].tokens, user, now=utcnow())
    return render_template(
        "console/user.html",
        user=user,
        sessions=sessions,
        console_sessions=console_session_ids(user),
        events=recent_events(user.id, RECENT_EVENTS),
        allowed=allowed_actions(current_visit().user, user),
        notice=notice,
        problems=problems or [],
    )


def _login_page(
    secret: str, *, username: str = "", problem: str | None = None, status: int = 200
) -> Response:
    page = render_template(
        "console/login.html", login_token=form_token(secret, LOGIN), username=username, problem=problem
    )
    response = make_response(page, status)
    set_console_cookie(response, LOGIN_COOKIE, secret)
    return response
