"""Resolvers for tokens: refresh, verify and revoke."""

from typing import Any

from ariadne import MutationType
from graphql import GraphQLResolveInfo

from ..auth.sessions import revoke_refresh_token, rotate_refresh_token
from ..auth.tokens import decode_access_token, unix_time
from ..models import utcnow
from .accounts import pair_fields

mutation = MutationType()


@mutation.field("refreshAccessToken")
@mutation.field("refreshToken")
def resolve_refresh(_: Any, info: GraphQLResolveInfo, refresh_token: str) -> dict[str, Any]:
    pair = rotate_refresh_token(info.context.auth.tokens, refresh_token, now=utcnow())
    return pair_fields(pair)


@mutation.field("verifyToken")
def resolve_verify_token(_: Any, info: GraphQLResolveInfo, token: str) -> dict[str, Any]:
    return {"payload": decode_access_token(info.context.auth.tokens, token)}


@mutation.field("revokeToken")
def resolve_revoke_token(_: Any, info: GraphQLResolveInfo, refresh_token: str) -> dict[str, int]:
    return {"revoked": unix_time(revoke_refresh_token(refresh_token, now=utcnow()))}


BINDABLES = [mutation]
