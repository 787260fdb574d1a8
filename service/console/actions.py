"""What staff do to an account from its page. Each is a POST form with the CSRF token, checked
first (400), then the account (404), then the visitor's rights (403); each ends with a redirect
back to the account's page (303)."""

from typing import Any

from flask import Response, current_app, redirect, request, url_for
from werkzeug.exceptions import BadRequest, NotFound
from werkzeug.exceptions import Forbidden as ForbiddenPage

from ..auth.admin import set_active, set_password, set_staff
from ..auth.console import check_console_action
from ..auth.sessions import log_out_everywhere, revoke_session
from ..auth.validation import parse_id
from ..errors import BadUserInput, Forbidden
from ..models import User, utcnow
from . import bp
from .access import client_details, current_visit, staff_required
from .csrf import SIGNED_IN, require_form_token
from .pages import account_or_404, account_page

STAFF_VALUES = {"true": True, "false": False}


def allowed_target(user_id: str, action: str) -> User:
    """The account to act on, once the form's token, the account and the visitor's rights are checked."""
    visit = current_visit()
    require_form_token(visit.token, SIGNED_IN)
    target = account_or_404(user_id)
    try:
        check_console_action(visit.user, target, action)
    except Forbidden as error:
        raise ForbiddenPage(error.message) from None
    return target


def done_by() -> dict[str, Any]:
    """Who acts, from where: what the account rules log with a staff member's change."""
    return {"actor_id": current_visit().user.id, **client_details()}


def back_to(user: User, action: str) -> Response:
    return redirect(url_for("console.account", user_id=user.id, done=action), 303)


@bp.post("/users/<user_id>/deactivate")
@staff_required
def deactivate(user_id: str) -> Response:
    """Deactivation ends every session of the account at once: its access tokens are refused."""
    return back_to(set_active(allowed_target(user_id, "deactivate"), False, **done_by()), "deactivate")


@bp.post("/users/<user_id>/activate")
@staff_required
def activate(user_id: str) -> Response:
    return back_to(set_active(allowed_target(user_id, "activate"), True, **done_by()), "activate")


@bp.post("/users/<user_id>/staff")
@staff_required
def change_staff(user_id: str) -> Response:
    """Superusers only: ``is_staff=true`` grants staff rights, ``false`` withdraws them."""
    target = allowed_target(user_id, "staff")
    value = STAFF_VALUES.get(request.form.get("is_staff", ""))
    if value is None:
        raise BadRequest("is_staff must be true or false.")
    return back_to(set_staff(target, value, **done_by()), "staff")


@bp.post("/users/<user_id>/password")
@staff_required
def temporary_password(user_id: str) -> Response | tuple[str, int]:
    """A temporary password, under the password policy; every session of the account ends."""
    target = allowed_target(user_id, "password")
    try:
        set_password(current_app.extensions["auth"], target, request.form.get("password", ""), **done_by())
    except BadUserInput as error:
        return account_page(target, problems=error.fields["password"]), 400
    return back_to(target, "password")


@bp.post("/users/<user_id>/sessions/<session_id>/revoke")
@staff_required
def revoke_one_session(user_id: str, session_id: str) -> Response:
    target = allowed_target(user_id, "revoke-session")
    try:
        revoke_session(target, parse_id(session_id), now=utcnow(), **done_by())
    except BadUserInput:
        raise NotFound("This account has no live session with this id.") from None
    return back_to(target, "revoke-session")


@bp.post("/users/<user_id>/sessions/revoke-all")
@staff_required
def revoke_all(user_id: str) -> Response:
    target = allowed_target(user_id, "revoke-all")
    log_out_everywhere(target, now=utcnow(), **done_by())
    return back_to(target, "revoke-all")
