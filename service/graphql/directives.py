"""Schema directives that make auth rules part of the contract and enforce them."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from ariadne import SchemaDirectiveVisitor
from graphql import GraphQLField, GraphQLResolveInfo, default_field_resolver

from ..errors import Forbidden
from ..models import User


def _guard(field: GraphQLField, check: Callable[[User], None]) -> GraphQLField:
    resolve = field.resolve or default_field_resolver

    @wraps(resolve)
    def guarded(obj: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        check(info.context.require_user())
        return resolve(obj, info, **kwargs)

    field.resolve = guarded
    return field


def _any_user(user: User) -> None:
    """Being signed in is enough."""


def _staff_only(user: User) -> None:
    if not user.is_privileged:
        raise Forbidden("Only staff members may do this.")


def _superuser_only(user: User) -> None:
    if not user.is_superuser:
        raise Forbidden("Only superusers may do this.")


class AuthenticatedDirective(SchemaDirectiveVisitor):
    """``@authenticated``: the caller must send a valid access token."""

    def visit_field_definition(self, field: GraphQLField, object_type: Any) -> GraphQLField:
        return _guard(field, _any_user)


class StaffDirective(SchemaDirectiveVisitor):
    """``@staff``: the caller must be staff or a superuser."""

    def visit_field_definition(self, field: GraphQLField, object_type: Any) -> GraphQLField:
        return _guard(field, _staff_only)


class SuperuserDirective(SchemaDirectiveVisitor):
    """``@superuser``: the caller must be a superuser."""

    def visit_field_definition(self, field: GraphQLField, object_type: Any) -> GraphQLField:
        return _guard(field, _superuser_only)


DIRECTIVES = {
    "authenticated": AuthenticatedDirective,
    "staff": StaffDirective,
    "superuser": SuperuserDirective,
}
