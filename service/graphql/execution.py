"""Running one GraphQL operation: parse, check, execute, and pick the HTTP status."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ariadne.validation.introspection_disabled import IntrospectionDisabledRule
from graphql import (
    ASTValidationRule,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    parse,
    specified_rules,
    validate,
)
from graphql.execution import Executor
from graphql.validation.validate import ValidationAbortedError

from ..errors import ClientError, GraphQLParseFailed, GraphQLValidationFailed
from .context import GraphQLContext
from .errors import format_error, tag
from .limits import (
    TOO_COMPLEX,
    alias_limit,
    bound_field_comparisons,
    check_json_nesting,
    cost_limit,
    depth_limit,
    introspection_limit,
)

# Checked documents kept per app: a client sends the same few documents again and again,
# and each costs a dictionary lookup instead of a parse and ~30 validation rules. Longer
# documents are checked every time, so the cache holds at most ~256 small ASTs.
DOCUMENT_CACHE_SIZE = 256
DOCUMENT_CACHE_MAX_QUERY = 8 * 1024


class OneShotExecutor(Executor):
    """graphql-core's plain executor, which lets go of the request once it has answered.

    The executor and its resolve-info helpers (bound methods of the executor)
    refer to each other: left as they are, every request's executor, and with
    it the context, the request object and its environ, waits for the garbage
    collector. Dropping the helpers once a synchronous result is in lets
    reference counting free it all at once.
    """

    def execute_operation(self, serially: bool | None = None) -> Any:
        result = super().execute_operation(serially)
        if not self.is_awaitable(result):
            self.async_helpers = None  # type: ignore[assignment]
        return result


class MethodNotAllowed(Exception):
    """A mutation sent over GET: refused before anything runs."""


@dataclass(frozen=True)
class CheckedDocument:
    """A query parsed and validated against one app's schema and rules.

    ``document`` is ``None`` when the query could not be parsed (``refusal``
    says why); ``errors`` are the validation errors, empty when it may run.
    Neither depends on the request: no rule reads variables or the caller.
    ``operations`` finds the operation to run by ``operationName`` (``None``:
    the document's only one) without walking the document again.
    """

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...] = ()
    refusal: ClientError | GraphQLError | None = None
    operations: Mapping[str | None, OperationDefinitionNode] = field(default_factory=dict)

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        """The operation that would run for ``operationName`` ``name``, or ``None`` if it cannot be told."""
        return self.operations.get(name)


@dataclass(frozen=True)
class GraphQLSettings:
    """How operations run, fixed when the app is created."""

    schema: GraphQLSchema
    introspection: bool = True
    debug: bool = False
    rules: tuple[type[ASTValidationRule], ...] = ()
    max_query_size: int = 100 * 1024
    max_tokens: int = 5000
    # The app's own cache of checked documents (see ``checked_document``).
    _cached: Callable[[str], CheckedDocument] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cached = lru_cache(maxsize=DOCUMENT_CACHE_SIZE)(self.check_document)
        object.__setattr__(self, "_cached", cached)

    @classmethod
    def from_config(
        cls, schema: GraphQLSchema, config: Mapping[str, Any], *, debug: bool
    ) -> "GraphQLSettings":
        bound_field_comparisons()
        return cls(
            schema=schema,
            introspection=config["GRAPHQL_INTROSPECTION"],
            debug=debug,
            # Built once: none of them depends on the request.
            rules=(
                alias_limit(config["GRAPHQL_MAX_ALIASES"]),
                depth_limit(config["GRAPHQL_MAX_DEPTH"]),
                cost_limit(schema, config["GRAPHQL_MAX_COST"]),
                introspection_limit(),
            ),
            max_query_size=config["GRAPHQL_MAX_QUERY_SIZE"],
            max_tokens=config["GRAPHQL_MAX_TOKENS"],
        )

    def checked_document(self, query: str) -> CheckedDocument:
        """``query`` parsed and validated, from this app's cache when it was seen before."""
        if len(query) > DOCUMENT_CACHE_MAX_QUERY:
            return self.check_document(query)
        return self._cached(query)

    def check_document(self, query: str) -> CheckedDocument:
        """``query`` parsed and validated now, with every rule Ariadne would run (no cache)."""
        try:
            document = parse_document(self, query)
        except (GraphQLParseFailed, GraphQLValidationFailed, GraphQLError) as refusal:
            return CheckedDocument(None, refusal=refusal)
        # The rules Ariadne would run: the specification's, ours, and, with introspection
        # off, the one that refuses __schema and __type.
        rules = (*specified_rules, *self.rules)
        if not self.introspection:
            rules = (*rules, IntrospectionDisabledRule)
        errors = tuple(self.validate(document, rules))
        return CheckedDocument(document, errors, operations=operations_of(document))

    def validate(
        self, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
    ) -> list[GraphQLError]:
        """graphql-core's validation, every error tagged ``GRAPHQL_VALIDATION_FAILED``.

        With introspection off, messages carry no "Did you mean ...?" hints
        that would give field names away.
        """
        errors = validate(self.schema, document, rules=rules, hide_suggestions=not self.introspection)
        for error in errors:
            if error.extensions and "cost" in error.extensions:
                error.message += " (GRAPHQL_MAX_COST)."
            elif isinstance(error, ValidationAbortedError) and error.message == "Validation aborted.":
                error.message = TOO_COMPLEX
        return [tag(error, "GRAPHQL_VALIDATION_FAILED") for error in errors]


def read_operation(data: Any) -> tuple[str, dict[str, Any] | None, str | None]:
    """The query, variables and operation name of a request body; ``GraphQLParseFailed`` when malformed.

    ``extensions``, if sent, must be an object; nothing else is read from it.
    """
    check_json_nesting(data)
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
    extensions = data.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        # Nothing reads them yet, but the protocol says what they are (GraphQL over HTTP).
        raise GraphQLParseFailed("'extensions' must be a JSON object or null.")
    if not _is_unicode_text(query) or not _is_unicode_text(variables):
        # JSON may spell lone surrogates ("\ud800"), which no database or hash can take.
        raise GraphQLParseFailed("The request holds text that is not valid Unicode (a lone surrogate).")
    return query, variables, operation_name


def _is_unicode_text(value: Any) -> bool:
    """False if any string in ``value`` (walked through lists and dicts) cannot be encoded as UTF-8."""
    pending = [value]
    while pending:  # a loop, not recursion: no nesting can exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def parse_document(settings: GraphQLSettings, query: str) -> DocumentNode:
    """Parse ``query`` within the size limits.

    Too many bytes or tokens is ``GRAPHQL_VALIDATION_FAILED`` naming the
    setting, found before the document is parsed whole; a syntax error is
    ``GRAPHQL_PARSE_FAILED``.
    """
    if len(query) > settings.max_query_size or len(query.encode()) > settings.max_query_size:
        raise GraphQLValidationFailed(
            f"The query document is larger than {settings.max_query_size} bytes (GRAPHQL_MAX_QUERY_SIZE)."
        )
    try:
        return parse(query, max_tokens=settings.max_tokens)
    except GraphQLError as error:
        if "tokens" in error.message and "Parsing aborted" in error.message:
            raise GraphQLValidationFailed(
                f"The query document has more than {settings.max_tokens} tokens (GRAPHQL_MAX_TOKENS)."
            ) from None
        raise tag(error, "GRAPHQL_PARSE_FAILED") from None


def operations_of(document: DocumentNode) -> dict[str | None, OperationDefinitionNode]:
    """The operations a request can pick: by name when one operation has it, and under ``None``
    the document's only operation. A name that two operations share picks neither."""
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    named: dict[str | None, OperationDefinitionNode] = {}
    shared = set()
    for node in operations:
        if node.name is not None:
            if node.name.value in named:
                shared.add(node.name.value)
            named[node.name.value] = node
    for name in shared:
        del named[name]
    if len(operations) == 1:
        named[None] = operations[0]
    return named


def error_body(error: ClientError) -> dict[str, Any]:
    """The JSON body of a request refused before execution."""
    return {"errors": [{"message": error.message, "extensions": error.as_extensions()}]}


@dataclass
class Outcome:
    """What running a request gave: the HTTP status, the JSON body, and (for the log) the operation."""

    status: int
    body: dict[str, Any]
    operation_name: str | None = None
    operation_type: str | None = None


def execute_operation(
    settings: GraphQLSettings, data: Any, context: GraphQLContext, *, read_only: bool = False
) -> Outcome:
    """Run one operation; return the HTTP status and the JSON body.

    200 once the operation executed, even when fields failed (clients read
    the errors only from a 2xx answer); 400 when it could not run at all.
    ``read_only`` (GET requests) refuses mutations with ``MethodNotAllowed``.
    """
    try:
        query, variables, operation_name = read_operation(data)
    except GraphQLParseFailed as error:
        return Outcome(400, error_body(error))
    checked = settings.checked_document(query)
    if isinstance(checked.refusal, ClientError):
        return Outcome(400, error_body(checked.refusal))
    if checked.refusal is not None:
        return Outcome(400, {"errors": [format_error(checked.refusal)]})
    document = checked.document
    operation = checked.operation(operation_name)
    if operation is None and operation_name is not None and checked.errors:  # e.g. two share the name
        return Outcome(400, {"errors": [format_error(error) for error in checked.errors]}, operation_name)
    if operation is None:
        problem = GraphQLValidationFailed(
            f"The document has no operation named {operation_name!r}."
            if operation_name
            else "Send one operation, or name the one to run in 'operationName'."
        )
        return Outcome(400, error_body(problem), operation_name)
    if read_only and operation.operation == OperationType.MUTATION:
        raise MethodNotAllowed()
    described = _described(operation)
    if checked.errors:
        return Outcome(400, {"errors": [format_error(error) for error in checked.errors]}, *described)
    # Parsed and validated once (Ariadne's graphql_sync would do both again): straight to
    # graphql-core's executor, with the one error formatter. The plain executor, not the
    # default incremental one: the schema declares no @defer or @stream, so validation has
    # already refused any document that could need it.
    executor = OneShotExecutor.build(
        settings.schema,
        document,
        context_value=context,
        raw_variable_values=variables,
        operation_name=operation_name,
        # Every resolver is synchronous: no value is tested for being awaitable (as in execute_sync).
        is_awaitable=_never,
        is_async_iterable=_never,
    )
    if isinstance(executor, list):  # the variables did not fit their types
        executed = ExecutionResult(None, errors=executor)
    else:
        executed = executor.execute_operation()
    errors = [format_error(error, settings.debug) for error in executed.errors or ()]
    _drop_tracebacks(executed.errors or ())
    if executed.data is None and not any("path" in error for error in errors):
        # Nothing executed: the variables did not fit their types.
        return Outcome(400, {"errors": errors}, *described)
    result: dict[str, Any] = {"data": executed.data}
    if errors:
        result["errors"] = errors
    return Outcome(200, result, *described)


def _drop_tracebacks(errors: Iterable[BaseException]) -> None:
    """Forget where formatted errors were raised: a traceback's frames hold the executor that
    holds the error, a cycle that would keep the request alive until a garbage collection."""
    for error in errors:
        seen: set[int] = set()
        pending: list[BaseException | None] = [error]
        while pending:
            current = pending.pop()
            if current is None or id(current) in seen:
                continue
            seen.add(id(current))
            current.__traceback__ = None
            pending += [getattr(current, "original_error", None), current.__cause__, current.__context__]


def _never(_value: Any) -> bool:
    return False


def _described(operation: OperationDefinitionNode) -> tuple[str | None, str]:
    return (operation.name.value if operation.name else None), operation.operation.value
