"""Resolvers for staff: the ``users`` list and superusers' account switches."""

from dataclasses import dataclass
from typing import Any

from ariadne import MutationType, ObjectType, QueryType
from graphql import GraphQLResolveInfo

from ..auth.admin import SEARCH_MAX_LENGTH, count_users, set_active, set_staff, users_page
from ..auth.validation import parse_id
from ..errors import BadUserInput
from ..extensions import db
from ..models import User
from .pagination import PAGE_DEFAULT, decode_cursor, encode_cursor, page_size_problems

query = QueryType()
mutation = MutationType()
connection_type = ObjectType("UserConnection")
CURSOR_PREFIX = "user:"


@dataclass(frozen=True)
class UserPage:
    users: list[User]
    has_next_page: bool
    search: str | None


def cursor_of(user: User) -> str:
    return encode_cursor(CURSOR_PREFIX, user.id)


@query.field("users")
def resolve_users(
    _: Any,
    info: GraphQLResolveInfo,
    first: int | None = PAGE_DEFAULT,
    after: str | None = None,
    search: str | None = None,
) -> UserPage:
    if first is None:  # an explicit null means "the default"
        first = PAGE_DEFAULT
    problems: dict[str, list[str]] = {}
    if first_problems := page_size_problems(first):
        problems["first"] = first_problems
    if search is not None and len(search) > SEARCH_MAX_LENGTH:
        problems["search"] = [f"search must be at most {SEARCH_MAX_LENGTH} characters long."]
    elif search is not None and "\x00" in search:
        problems["search"] = ["search must not contain the NUL character."]
    if problems:
        raise BadUserInput(problems)
    after_id = decode_cursor(CURSOR_PREFIX, after) if after else None
    users, has_next_page = users_page(first=first, after_id=after_id, search=search or None)
    return UserPage(users, has_next_page, search or None)


@connection_type.field("edges")
def resolve_edges(page: UserPage, _: GraphQLResolveInfo) -> list[dict[str, Any]]:
    return [{"cursor": cursor_of(user), "node": user} for user in page.users]


@connection_type.field("pageInfo")
def resolve_page_info(page: UserPage, _: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "has_next_page": page.has_next_page,
        "end_cursor": cursor_of(page.users[-1]) if page.users else None,
    }


@connection_type.field("totalCount")
def resolve_total_count(page: UserPage, _: GraphQLResolveInfo) -> int:
    """Counted only when asked for: the one part of a page whose cost grows with the table."""
    return count_users(page.search)


def _target(caller: User, raw_id: str, *, changing_self: str) -> User:
    user_id = parse_id(raw_id)
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise BadUserInput({"id": ["No user has this id."]})
    if user.id == caller.id:
        raise BadUserInput({"id": [changing_self]})
    return user


@mutation.field("setUserActive")
def resolve_set_user_active(_: Any, info: GraphQLResolveInfo, id: str, is_active: bool) -> User:
    context = info.context
    caller = context.require_user()
    target = _target(caller, id, changing_self="You cannot deactivate yourself.")
    return set_active(
        target, is_active, actor_id=caller.id, ip=context.client_ip, user_agent=context.user_agent
    )


@mutation.field("setUserStaff")
def resolve_set_user_staff(_: Any, info: GraphQLResolveInfo, id: str, is_staff: bool) -> User:
    context = info.context
    caller = context.require_user()
    target = _target(caller, id, changing_self="You cannot change your own staff rights.")
    return set_staff(
        target, is_staff, actor_id=caller.id, ip=context.client_ip, user_agent=context.user_agent
    )


BINDABLES = [query, mutation, connection_type]
