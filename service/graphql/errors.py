"""Turning every error into the JSON a client sees: a message and a stable ``extensions.code``."""

import logging
from typing import Any

from ariadne import get_error_extension
from graphql import GraphQLError

from ..errors import ClientError

log = logging.getLogger("service.graphql")

INTERNAL_MESSAGE = "Internal server error."


def tag(error: GraphQLError, code: str) -> GraphQLError:
    """Give a GraphQL error raised before execution (parse, validation) its code."""
    error.extensions = {**(error.extensions or {}), "code": code}
    return error


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    """The one error formatter: client errors keep their code, anything unexpected is masked and logged."""
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, ClientError):
        formatted["message"] = original.message
        formatted["extensions"] = original.as_extensions()
    elif "code" in (error.extensions or {}):
        pass
    elif error.path is None:
        # Raised by graphql-core before any resolver ran: the variables did not fit their types.
        formatted["extensions"] = {"code": "BAD_USER_INPUT", "fields": _variable_problems(error)}
    else:
        log.error("Unexpected error in %s", ".".join(map(str, error.path or [])), exc_info=original or error)
        formatted["message"] = INTERNAL_MESSAGE
        formatted["extensions"] = {"code": "INTERNAL_SERVER_ERROR"}
        if debug:
            formatted["extensions"]["exception"] = get_error_extension(error)
    return formatted


def _variable_problems(error: GraphQLError) -> dict[str, list[str]]:
    """``extensions.fields`` for a variable error: the variable's name and the message."""
    for node in error.nodes or []:
        variable = getattr(node, "variable", None)
        if variable is not None:
            return {variable.name.value: [error.message]}
    return {}
