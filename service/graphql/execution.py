"""Running one GraphQL operation: parse, check, execute, and pick the HTTP status."""

import logging
from dataclasses import dataclass
from typing import Any

from ariadne import graphql_sync
from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    validate,
)

from ..errors import ClientError, GraphQLParseFailed, GraphQLValidationFailed
from .context import GraphQLContext
from .errors import format_error, tag

# Ariadne logs every error, client mistakes included (with their variables' values);
# ``format_error`` logs only the unexpected ones. This logger is kept out of the
# logging registry so that no logging configuration can switch it back on.
ARIADNE_LOG = logging.Logger("service.graphql.ariadne")
ARIADNE_LOG.disabled = True


class MethodNotAllowed(Exception):
    """A mutation sent over GET: refused before anything runs."""


@dataclass(frozen=True)
class GraphQLSettings:
    """How operations run, fixed when the app is created."""

    schema: GraphQLSchema
    introspection: bool = True
    debug: bool = False


def read_operation(data: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    """The query, variables and operation name of a request body; ``GraphQLParseFailed`` when malformed."""
    if isinstance(data, list):
        raise GraphQLParseFailed(
            "Batched operations (a JSON list) are not supported; send one operation per request."
        )
    if not isinstance(data, dict):
        raise GraphQLParseFailed("The request body must be a JSON object with a 'query' string.")
    query, variables, operation_name = data.get("query"), data.get("variables"), data.get("operationName")
    if not isinstance(query, str) or not query.strip():
        raise GraphQLParseFailed("The request must contain a 'query' string.")
    if variables is not None and not isinstance(variables, dict):
        raise GraphQLParseFailed("'variables' must be a JSON object or null.")
    if operation_name is not None and not isinstance(operation_name, str):
        raise GraphQLParseFailed("'operationName' must be a string or null.")
    return query, variables, operation_name


def parse_document(query: str) -> DocumentNode:
    """Parse ``query``; a syntax error becomes ``GRAPHQL_PARSE_FAILED``."""
    try:
        return parse(query)
    except GraphQLError as error:
        raise tag(error, "GRAPHQL_PARSE_FAILED") from None


def validate_document(
    schema: GraphQLSchema, document_ast: DocumentNode, rules=None, max_errors=None, **kwargs
):
    """graphql-core's validation, with every error tagged ``GRAPHQL_VALIDATION_FAILED``."""
    errors = validate(schema, document_ast, rules=rules, max_errors=max_errors, **kwargs)
    return [tag(error, "GRAPHQL_VALIDATION_FAILED") for error in errors]


def operation_type(document: DocumentNode, operation_name: str | None) -> OperationType | None:
    """The type of the operation that would run, or ``None`` if it cannot be told."""
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [node for node in operations if node.name and node.name.value == operation_name]
    return operations[0].operation if len(operations) == 1 else None


def error_body(error: ClientError) -> dict[str, Any]:
    """The JSON body of a request refused before execution."""
    return {"errors": [{"message": error.message, "extensions": error.as_extensions()}]}


def execute_operation(
    settings: GraphQLSettings, data: Any, context: GraphQLContext, *, read_only: bool = False
) -> tuple[int, dict[str, Any]]:
    """Run one operation; return the HTTP status and the JSON body.

    200 once the operation executed, even when fields failed (clients read
    the errors only from a 2xx answer); 400 when it could not run at all.
    ``read_only`` (GET requests) refuses mutations with ``MethodNotAllowed``.
    """
    try:
        query, variables, operation_name = read_operation(data)
        document = parse_document(query)
    except GraphQLParseFailed as error:
        return 400, error_body(error)
    except GraphQLError as error:
        return 400, {"errors": [format_error(error)]}
    kind = operation_type(document, operation_name)
    if kind is None:
        problem = GraphQLValidationFailed(
            f"The document has no operation named {operation_name!r}."
            if operation_name
            else "Send one operation, or name the one to run in 'operationName'."
        )
        return 400, error_body(problem)
    if read_only and kind == OperationType.MUTATION:
        raise MethodNotAllowed()
    _, result = graphql_sync(
        settings.schema,
        {"query": query, "variables": variables, "operationName": operation_name},
        query_document=document,
        query_validator=validate_document,
        context_value=context,
        introspection=settings.introspection,
        debug=settings.debug,
        logger=ARIADNE_LOG,
        error_formatter=format_error,
    )
    if result.get("data") is None:
        # Nothing executed: a validation error, or variables that did not fit their types.
        result.pop("data", None)
        return 400, result
    return 200, result
