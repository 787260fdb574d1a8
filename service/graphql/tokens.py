"""Resolvers for tokens and sessions: refresh, verify, revoke, list."""

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
from ..models import LoginSession, utcnow
from .accounts import pair_fields

mutation = MutationType()
query = QueryType()
session_type = ObjectType("Session")


@mutation.field("refreshAccessToken")
@mutation.field("refreshToken")
def resolve_refresh(_: Any, info: GraphQLResolveInfo, refresh_token: str) -> dict[str, Any]:
    context = info.context
    pair = rotate_refresh_token(
        context.auth.tokens, refresh_token, now=utcnow(), ip=context.client_ip, user_agent=context.user_agent
    )
    return pair_fields(pair)


@mutation.field("verifyToken")
def resolve_verify_token(_: Any, info: GraphQLResolveInfo, token: str) -> dict[str, Any]:
    _, payload = check_access_token(info.context.auth.tokens, token)
    return {"payload": payload}


@mutation.field("revokeToken")
def resolve_revoke_token(_: Any, info: GraphQLResolveInfo, refresh_token: str) -> dict[str, int]:
    context = info.context
    revoked = revoke_refresh_token(
        refresh_token, now=utcnow(), ip=context.client_ip, user_agent=context.user_agent
    )
    return {"revoked": unix_time(revoked)}


@mutation.field("revokeAllTokens")
def resolve_revoke_all_tokens(_: Any, info: GraphQLResolveInfo) -> dict[str, int]:
    context = info.context
    revoked = log_out_everywhere(
        context.require_user(), now=utcnow(), ip=context.client_ip, user_agent=context.user_agent
    )
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
