"""Bounds on one GraphQL request, checked before anything executes.

A document may be refused for its size (bytes, then parser tokens), its
aliased fields, its depth, its cost or its introspection. Each refusal names
the setting.

Every rule here walks the document once: a fragment's depth, cost and
``__schema`` count are worked out the first time it is spread and remembered,
so fragments that spread each other many times cost no more than their text.
"""

import logging
from typing import Any

from ariadne.validation.query_cost import cost_analysis_message
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    ValidationContext,
    get_named_type,
)
from graphql.validation.rules import overlapping_fields_can_be_merged

from ..errors import GraphQLParseFailed

# What one field costs (Ariadne's cost semantics): anything that checks or
# hashes a password is expensive on purpose, everything else costs 1. Costs must
# not depend on variables (no ``multipliers``): checked documents are cached by
# their text alone (``GraphQLSettings.checked_document``).
PASSWORD_COST = 50
COST_MAP = {
    "Mutation": {
        name: {"complexity": PASSWORD_COST}
        for name in (
            "createUser",
            "tokenAuth",
            "changePassword",
            "deleteAccount",
            "passwordReset",
            "requestEmailChange",
        )
    }
}
# graphql-core's OverlappingFieldsCanBeMerged compares same-named fields in pairs,
# so its work grows with the square of a document's size, up to a budget (about a
# microsecond per unit) after which validation is aborted. Its default, 500,000,
# lets one 5,000-token document hold a worker for half a second or more; ours
# bounds that to a few hundredths. The standard introspection query and the old
# clients' operations spend nothing; 100 copies of one field with a selection
# spend about 25,000.
FIELD_COMPARISON_BUDGET = 20_000
TOO_COMPLEX = (
    "The document is too complex to validate: fragments nested too deeply, or too many "
    "fields of the same name to compare. Send fewer repeated fields and fragment spreads."
)
# JSON bodies (and GET variables, multipart operations and map) may nest this
# many arrays and objects: far more than any operation's variables need, far
# fewer than would exhaust the stack of a recursive walk.
MAX_JSON_NESTING = 64

log = logging.getLogger("service.graphql")


class NestedTooDeeply(GraphQLParseFailed):
    """JSON nested more than ``MAX_JSON_NESTING`` levels: refused before anything walks it."""

    default_message = (
        f"The request's JSON is nested too deeply: at most {MAX_JSON_NESTING} levels of arrays and objects."
    )

    def __init__(self) -> None:
        super().__init__()
        # One line, no traceback and no body: enough to notice someone trying it.
        log.warning("Refused a request whose JSON is nested more than %d levels deep.", MAX_JSON_NESTING)


def check_json_nesting(value: Any) -> None:
    """Raise ``NestedTooDeeply`` when ``value`` nests lists and dicts deeper than ``MAX_JSON_NESTING``.

    A loop, not recursion, so that any depth the JSON parser accepted can be measured.
    """
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_JSON_NESTING:
            raise NestedTooDeeply()
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def alias_limit(maximum: int) -> type[ASTValidationRule]:
    """At most ``maximum`` aliased fields in the whole document (``GRAPHQL_MAX_ALIASES``).

    Aliases on introspection fields (``a: __schema``, ``b: __type``) count like any other.
    """

    class AliasLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.aliases = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1
                if self.aliases == maximum + 1:
                    self.report_error(
                        GraphQLError(
                            f"The document has more than {maximum} aliased fields (GRAPHQL_MAX_ALIASES).",
                            node,
                        )
                    )

    return AliasLimit


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }


class _FragmentMemo:
    """A number per fragment, worked out once; a fragment in a cycle counts 0 (another rule's error)."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = _fragments(document)
        self.known: dict[str, int] = {}

    def value(self, name: str, measure: Any) -> int:
        if name not in self.known:
            fragment = self.fragments.get(name)
            self.known[name] = 0  # a spread of it inside itself adds nothing
            if fragment is not None:
                self.known[name] = measure(fragment)
        return self.known[name]


def depth_limit(maximum: int) -> type[ASTValidationRule]:
    """No operation nests fields deeper than ``maximum`` (``GRAPHQL_MAX_DEPTH``).

    Introspection (``__schema``, ``__type``) is not counted: the standard
    introspection query that explorers and codegen tools send is deeper than
    any real operation needs to be, it may be sent once per document (see
    ``introspection_limit``), and switching introspection off is its own setting.
    """

    class DepthLimit(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            self.memo = _FragmentMemo(node)

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            depth = self.depth(node.selection_set)
            if depth > maximum:
                name = f" '{node.name.value}'" if node.name else ""
                self.report_error(
                    GraphQLError(
                        f"The operation{name} is {depth} levels deep; at most {maximum} are allowed "
                        "(GRAPHQL_MAX_DEPTH).",
                        node,
                    )
                )

        def depth(self, selection_set: SelectionSetNode | None) -> int:
            if selection_set is None:
                return 0
            deepest = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    if not selection.name.value.startswith("__"):
                        deepest = max(deepest, 1 + self.depth(selection.selection_set))
                elif isinstance(selection, InlineFragmentNode):
                    deepest = max(deepest, self.depth(selection.selection_set))
                elif isinstance(selection, FragmentSpreadNode):
                    fragment_depth = self.memo.value(
                        selection.name.value, lambda fragment: self.depth(fragment.selection_set)
                    )
                    deepest = max(deepest, fragment_depth)
            return deepest

    return DepthLimit


def introspection_limit() -> type[ASTValidationRule]:
    """A document selects ``__schema`` at most once, however it is aliased or spread.

    One answer to the standard introspection query is the whole schema; the
    cost rule bounds everything else, ``__type`` included.
    """

    class IntrospectionLimit(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            self.memo = _FragmentMemo(node)
            self.schemas = 0

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            self.schemas += self.count(node.selection_set)

        def leave_document(self, *_: Any) -> None:
            if self.schemas > 1:
                self.report_error(
                    GraphQLError(
                        "The document selects '__schema' more than once; "
                        "send the introspection query once per request."
                    )
                )

        def count(self, selection_set: SelectionSetNode | None) -> int:
            if selection_set is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    total += selection.name.value == "__schema"
                elif isinstance(selection, InlineFragmentNode):
                    total += self.count(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    total += self.memo.value(selection.name.value, lambda f: self.count(f.selection_set))
            return total

    return IntrospectionLimit


def cost_limit(schema: GraphQLSchema, maximum: int) -> type[ASTValidationRule]:
    """The document costs at most ``maximum`` (``GRAPHQL_MAX_COST``), counted as Ariadne's
    ``cost_validator`` counts with ``default_cost=1`` and ``COST_MAP``.

    Each field costs 1 (or its ``COST_MAP`` complexity) plus what is selected
    under it; a fragment costs what its selections cost wherever it is
    spread. Unlike Ariadne's rule, introspection fields (``__schema``,
    ``__type`` and everything under them) count too; only ``__typename``,
    which reads nothing, is free. It needs no variables (``COST_MAP`` uses no
    multipliers), so it is built once, when the app starts.
    """
    costs = _field_costs(schema, COST_MAP)
    query_type = schema.query_type
    roots = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }

    def field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
        if parent is query_type and query_type is not None:
            if name == "__schema":
                return SchemaMetaFieldDef
            if name == "__type":
                return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return parent.fields.get(name)
        return None

    class CostLimit(ASTValidationRule):
        def enter_document(self, node: DocumentNode, *_: Any) -> None:
            self.memo = _FragmentMemo(node)
            self.total = 0

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            self.total += self.cost(node.selection_set, roots[node.operation])

        def leave_document(self, *_: Any) -> None:
            if self.total > maximum:
                self.report_error(
                    GraphQLError(
                        cost_analysis_message(maximum, self.total),
                        extensions={"cost": {"requestedQueryCost": self.total, "maximumAvailable": maximum}},
                    )
                )

        def cost(self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None) -> int:
            if selection_set is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    name = selection.name.value
                    field = field_definition(parent, name)
                    if field is None:  # __typename, or an unknown field (another rule's error)
                        continue
                    own = costs.get((parent.name, name), 1) if parent is not None else 1
                    total += own + self.cost(selection.selection_set, get_named_type(field.type))
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    inner = schema.get_type(condition.name.value) if condition else parent
                    total += self.cost(selection.selection_set, inner)
                elif isinstance(selection, FragmentSpreadNode):
                    total += self.memo.value(
                        selection.name.value,
                        lambda fragment: self.cost(
                            fragment.selection_set, schema.get_type(fragment.type_condition.name.value)
                        ),
                    )
            return total

    return CostLimit


def _field_costs(schema: GraphQLSchema, cost_map: dict[str, dict[str, Any]]) -> dict[tuple[str, str], int]:
    """``COST_MAP`` as ``(type, field) -> cost``; a name the schema lacks stops the app from starting."""
    costs = {}
    for type_name, fields in cost_map.items():
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise ValueError(f"COST_MAP names {type_name!r}, which is not an object type of the schema.")
        for field_name, settings in fields.items():
            if field_name not in graphql_type.fields or set(settings) != {"complexity"}:
                raise ValueError(f"COST_MAP entry {type_name}.{field_name} is not a field with a complexity.")
            costs[(type_name, field_name)] = settings["complexity"]
    return costs


def bound_field_comparisons() -> None:
    """Lower graphql-core's budget for comparing overlapping fields (read at each validation)."""
    overlapping_fields_can_be_merged.MAX_COMPLEXITY_BUDGET = FIELD_COMPARISON_BUDGET
