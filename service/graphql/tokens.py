"""Resolvers for tokens and sessions: refresh, verify, revoke, list."""

from contextlib import suppress
from datetime import datetime
from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from ..auth.identity import check_access_token
from ..auth.sessions import (
    live_sessions,
    log_out_everywhere,
    revoke_refresh_token,
    revoke_session,
    rotate_refresh_token,
    session_ends_at,
)
from ..auth.tokens import unix_time
from ..auth.validation import parse_id
from ..errors import TokenInvalid, TokenRevoked
from ..models import LoginSession, utcnow
from ..refresh_cookie import refresh_token_to_use
from .accounts import pair_fields

mutation = MutationType()
query = QueryType()
session_type = ObjectType("Session")


@mutation.field("refreshAccessToken")
@mutation.field("refreshToken")
def resolve_refresh(_: Any, info: GraphQLResolveInfo, refresh_token: str | None = None) -> dict[str, Any]:
    context = info.context
    raw, _from_cookie = refresh_token_to_use(context.refresh_cookie, refresh_token)
    pair = rotate_refresh_token(
        context.auth.tokens, raw, now=utcnow(), ip=context.client_ip, user_agent=context.user_agent
    )
    return pair_fields(context, pair)


@mutation.field("verifyToken")
def resolve_verify_token(_: Any, info: GraphQLResolveInfo, token: str) -> dict[str, Any]:
    _, payload = check_access_token(info.context.auth.tokens, token)
    return {"payload": payload}


@mutation.field("revokeToken")
def resolve_revoke_token(
    _: Any, info: GraphQLResolveInfo, refresh_token: str | None = None
) -> dict[str, int]:
    context = info.context
    cookie = context.refresh_cookie
    raw, from_cookie = refresh_token_to_use(cookie, refresh_token, check_csrf=False)
    revoked = revoke_refresh_token(raw, now=utcnow(), ip=context.client_ip, user_agent=context.user_agent)
    if from_cookie and cookie is not None:
        cookie.expire()
    return {"revoked": unix_time(revoked)}


@mutation.field("deleteRefreshTokenCookie")
def resolve_delete_refresh_token_cookie(_: Any, info: GraphQLResolveInfo) -> dict[str, bool]:
    """Log out in cookie mode: end the cookie's session and expire the cookies.

    ``deleted`` is false, and nothing happens, without cookie mode or without the cookie.
    """
    context = info.context
    cookie = context.refresh_cookie
    if cookie is None or not cookie.has_token():
        return {"deleted": False}
    raw = cookie.token(check_csrf=False)
    # A session that had ended already (or never existed): the cookie goes all the same.
    with suppress(TokenInvalid, TokenRevoked):
        revoke_refresh_token(raw, now=utcnow(), ip=context.client_ip, user_agent=context.user_agent)
    cookie.expire()
    return {"deleted": True}


@mutation.field("revokeAllTokens")
def resolve_revoke_all_tokens(_: Any, info: GraphQLResolveInfo) -> dict[str, int]:
    context = info.context
    revoked = log_out_everywhere(
        context.require_user(), now=utcnow(), ip=context.client_ip, user_agent=context.user_agent
    )
    if context.refresh_cookie is not None:
        context.refresh_cookie.expire_if_sent()
    return {"revoked": unix_time(revoked)}


@mutation.field("revokeSession")
def resolve_revoke_session(_: Any, info: GraphQLResolveInfo, id: str) -> dict[str, int]:
    context = info.context
    revoked = revoke_session(
        context.require_user(),
        parse_id(id),
        now=utcnow(),
        ip=context.client_ip,
        user_agent=context.user_agent,
    )
    return {"revoked": unix_time(revoked)}


@query.field("sessions")
def resolve_sessions(_: Any, info: GraphQLResolveInfo) -> list[LoginSession]:
    context = info.context
    return live_sessions(context.auth.tokens, context.require_user(), now=utcnow())


@session_type.field("expiresAt")
def resolve_session_expires_at(session: LoginSession, info: GraphQLResolveInfo) -> datetime:
    return session_ends_at(info.context.auth.tokens, session)


@session_type.field("current")
def resolve_session_current(session: LoginSession, info: GraphQLResolveInfo) -> bool:
    return session.id == info.context.identity.session_id


BINDABLES = [mutation, query, session_type]
