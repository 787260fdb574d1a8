"""Resolvers for the security event log: a user's own ``securityEvents``, staff's ``auditEvents``."""

from dataclasses import dataclass
from typing import Any

from ariadne import ObjectType, QueryType
from graphql import GraphQLResolveInfo

from ..auth.events import events_page
from ..auth.validation import parse_id
from ..errors import BadUserInput
from ..models import SecurityEvent
from .pagination import PAGE_DEFAULT, decode_cursor, encode_cursor, page_size_problems

query = QueryType()
event_type = ObjectType("SecurityEvent")
connection_type = ObjectType("SecurityEventConnection")
CURSOR_PREFIX = "event:"


@dataclass(frozen=True)
class EventPage:
    events: list[SecurityEvent]
    has_next_page: bool


def cursor_of(event: SecurityEvent) -> str:
    return encode_cursor(CURSOR_PREFIX, event.id)


def _page(
    first: int | None, after: str | None, *, problems: dict[str, list[str]], **filters: Any
) -> EventPage:
    """Check ``first`` and ``after`` (with the filters' ``problems``), then read one page."""
    if first is None:  # an explicit null means "the default"
        first = PAGE_DEFAULT
    if first_problems := page_size_problems(first):
        problems = {**problems, "first": first_problems}
    if problems:
        raise BadUserInput(problems)
    before_id = decode_cursor(CURSOR_PREFIX, after) if after else None
    events, has_next_page = events_page(first=first, before_id=before_id, **filters)
    return EventPage(events, has_next_page)


@query.field("securityEvents")
def resolve_security_events(
    _: Any, info: GraphQLResolveInfo, first: int | None = PAGE_DEFAULT, after: str | None = None
) -> EventPage:
    return _page(first, after, problems={}, user_id=info.context.require_user().id)


@query.field("auditEvents")
def resolve_audit_events(
    _: Any,
    info: GraphQLResolveInfo,
    user_id: str | None = None,
    kind: str | None = None,
    first: int | None = PAGE_DEFAULT,
    after: str | None = None,
) -> EventPage:
    problems: dict[str, list[str]] = {}
    account_id = parse_id(user_id) if user_id is not None else None
    if user_id is not None and account_id is None:
        problems["userId"] = ["userId must be an account's id, a positive whole number."]
    return _page(first, after, problems=problems, user_id=account_id, kind=kind)


@connection_type.field("edges")
def resolve_edges(page: EventPage, _: GraphQLResolveInfo) -> list[dict[str, Any]]:
    return [{"cursor": cursor_of(event), "node": event} for event in page.events]


@connection_type.field("pageInfo")
def resolve_page_info(page: EventPage, _: GraphQLResolveInfo) -> dict[str, Any]:
    return {
        "has_next_page": page.has_next_page,
        "end_cursor": cursor_of(page.events[-1]) if page.events else None,
    }


@event_type.field("actorId")
def resolve_actor_id(event: SecurityEvent, info: GraphQLResolveInfo) -> int | None:
    """Staff see who made a staff change; the account itself does not learn which staff member did."""
    return event.actor_id if info.context.require_user().is_privileged else None


BINDABLES = [query, event_type, connection_type]
