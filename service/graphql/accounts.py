"""Resolvers for accounts: registration, login and reading users."""

from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from ..auth.accounts import change_password, delete_account, log_in, register_user
from ..auth.identity import Caller
from ..auth.sessions import TokenPair
from ..auth.validation import parse_id
from ..errors import Forbidden
from ..extensions import db
from ..mail import negotiate_language
from ..models import User
from .context import GraphQLContext

query = QueryType()
mutation = MutationType()
user_type = ObjectType("User")


@query.field("whoami")
def resolve_whoami(_: Any, info: GraphQLResolveInfo) -> Caller:
    return info.context.require_user()


@query.field("user")
def resolve_user(_: Any, info: GraphQLResolveInfo, id: str) -> Caller | User | None:
    """Self or staff only; others get FORBIDDEN for any other id, existing or not."""
    caller = info.context.require_user()
    if str(caller.id) == str(id):
        return caller
    if not caller.is_privileged:
        raise Forbidden("You may only read your own account.")
    user_id = parse_id(id)
    return db.session.get(User, user_id) if user_id is not None else None


@mutation.field("createUser")
def resolve_create_user(_: Any, info: GraphQLResolveInfo, input: dict[str, str]) -> dict[str, Any]:
    context = info.context
    pair = register_user(
        context.auth,
        username=input["username"],
        email=input["email"],
        password=input["password"],
        user_agent=context.user_agent,
        ip=context.client_ip,
        language=negotiate_language(context.accept_language()),
    )
    return {"ok": True, **pair_fields(context, pair)}


@mutation.field("tokenAuth")
def resolve_token_auth(_: Any, info: GraphQLResolveInfo, username: str, password: str) -> dict[str, Any]:
    context = info.context
    pair = log_in(
        context.auth,
        username=username,
        password=password,
        user_agent=context.user_agent,
        ip=context.client_ip,
    )
    return pair_fields(context, pair)


@mutation.field("changePassword")
def resolve_change_password(
    _: Any, info: GraphQLResolveInfo, old_password: str, new_password: str
) -> dict[str, Any]:
    context = info.context
    pair = change_password(
        context.auth,
        context.require_account(),
        old_password=old_password,
        new_password=new_password,
        user_agent=context.user_agent,
        ip=context.client_ip,
    )
    return {"ok": True, **pair_fields(context, pair)}


@mutation.field("deleteAccount")
def resolve_delete_account(_: Any, info: GraphQLResolveInfo, password: str) -> dict[str, bool]:
    context = info.context
    account = context.require_account()
    delete_account(
        context.auth,
        account,
        password=password,
        ip=context.client_ip,
        user_agent=context.user_agent,
        uploads=context.uploads,
    )
    if context.refresh_cookie is not None:
        context.refresh_cookie.expire_if_sent()
    return {"ok": True}


def pair_fields(context: GraphQLContext, pair: TokenPair) -> dict[str, Any]:
    """A token pair as the payload types' fields; in cookie mode the refresh token goes
    into the answer's cookie instead, and the field is empty."""
    refresh_token = pair.refresh_token
    if context.refresh_cookie is not None:
        context.refresh_cookie.hand_out(refresh_token, pair.refresh_expires_in)
        refresh_token = ""
    return {
        "token": pair.token,
        "refresh_token": refresh_token,
        "payload": pair.payload,
        "refresh_expires_in": pair.refresh_expires_in,
        "user": pair.user,
    }


BINDABLES = [query, mutation, user_type]
