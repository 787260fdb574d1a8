"""Who is at the console, the cookies that say so, and what every console answer carries."""

import functools
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, g, redirect, render_template, request, url_for
from werkzeug.exceptions import Forbidden, HTTPException, NotFound

from ..auth.console import ConsoleVisit, console_visit
from ..auth.identity import Caller, Identity
from . import PREFIX, bp
from .assets import asset_url
from .csrf import SIGNED_IN, form_token

SESSION_COOKIE = "console_session"
# No script or style from anywhere but this service, none inline, and no framing.
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'"


def current_visit() -> ConsoleVisit | None:
    return g.get("console_visit")


def client_details() -> dict[str, str]:
    """The visitor's address and user agent, as the account rules take them (``ip``, ``user_agent``)."""
    return {"ip": request.remote_addr or "", "user_agent": request.headers.get("User-Agent", "")}


def set_console_cookie(response: Response, name: str, value: str, *, max_age: int | None = None) -> None:
    """A cookie only the console's own pages get: script cannot read it, other sites cannot send it."""
    response.set_cookie(
        name, value, max_age=max_age, path=PREFIX, secure=True, httponly=True, samesite="Strict"
    )


def delete_console_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path=PREFIX, secure=True, httponly=True, samesite="Strict")


def staff_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Only for a live console sign-in: a page sends others to the login form, an action refuses them."""

    @functools.wraps(view)
    def signed_in_view(**kwargs: Any) -> Any:
        if current_visit() is None:
            if request.method in ("GET", "HEAD"):
                return redirect(url_for("console.login"), 303)
            raise Forbidden("Sign in to the staff console first.")
        return view(**kwargs)

    return signed_in_view


@bp.before_request
def load_visit() -> None:
    """Read the console cookie (never anything else) into ``g.console_visit``."""
    if request.endpoint == "console.asset":
        return
    token = request.cookies.get(SESSION_COOKIE)
    visit = console_visit(token) if token else None
    g.console_visit = visit
    # A cookie for a sign-in that has ended is cleared from the browser.
    g.console_cookie_ended = token is not None and visit is None
    if visit is not None:  # the request's log line names the staff member
        user = visit.user
        caller = Caller(**{name: getattr(user, name) for name in Caller.__slots__})
        g.identity = Identity(user=caller, failure=None)


@bp.after_request
def clear_ended_cookie(response: Response) -> Response:
    if g.get("console_cookie_ended"):
        delete_console_cookie(response, SESSION_COOKIE)
    return response


@bp.after_app_request
def add_console_headers(response: Response) -> Response:
    """Every answer under ``/admin``, errors and unknown paths included: no inline script, no
    framing, and nothing kept by any cache but the versioned stylesheet and script."""
    if request.path == PREFIX or request.path.startswith(f"{PREFIX}/"):
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint != "console.asset":
            response.headers["Cache-Control"] = "no-store"
    return response


@bp.context_processor
def page_globals() -> dict[str, Any]:
    visit = current_visit()
    return {
        "visit": visit,
        "csrf_token": form_token(visit.token, SIGNED_IN) if visit is not None else None,
        "asset_url": asset_url,
    }


@bp.errorhandler(HTTPException)
def html_error(error: HTTPException) -> tuple[str, int]:
    """Errors in the console are pages, not the API's JSON."""
    if error.code is not None and error.code >= 500:
        current_app.logger.error("Console error on %s %s", request.method, request.path, exc_info=error)
    return render_template("console/error.html", error=error), error.code or 500


@bp.route("/<path:unknown>", methods=["GET", "POST"])
def not_found(unknown: str) -> Response:
    """Any other path under ``/admin`` is a console page that does not exist (an HTML 404)."""
    raise NotFound("There is no such page in the staff console.")
