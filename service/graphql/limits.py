"""Bounds on one GraphQL request, checked before anything executes.

A document may be refused for its size (bytes, then parser tokens), its
aliased fields, its depth or its cost. Each refusal names the setting.
"""

from typing import Any

from ariadne.validation import cost_validator
from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)

# What one field costs (Ariadne's cost validation): anything that checks or
# hashes a password is expensive on purpose, everything else costs 1.
PASSWORD_COST = 50
COST_MAP = {
    "Mutation": {
        name: {"complexity": PASSWORD_COST}
        for name in ("createUser", "tokenAuth", "changePassword", "deleteAccount")
    }
}


def alias_limit(maximum: int) -> type[ASTValidationRule]:
    """At most ``maximum`` aliased fields in the whole document (``GRAPHQL_MAX_ALIASES``)."""

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


def depth_limit(maximum: int) -> type[ASTValidationRule]:
    """No operation nests fields deeper than ``maximum`` (``GRAPHQL_MAX_DEPTH``).

    Introspection (``__schema``, ``__type``) is not counted: the standard
    introspection query that explorers and codegen tools send is deeper than
    any real operation needs to be, and switching introspection off is its own setting.
    """

    class DepthLimit(ASTValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            fragments = {
                definition.name.value: definition
                for definition in self.context.document.definitions
                if isinstance(definition, FragmentDefinitionNode)
            }
            depth = _depth(node.selection_set, fragments, set())
            if depth > maximum:
                name = f" '{node.name.value}'" if node.name else ""
                self.report_error(
                    GraphQLError(
                        f"The operation{name} is {depth} levels deep; at most {maximum} are allowed "
                        "(GRAPHQL_MAX_DEPTH).",
                        node,
                    )
                )

    return DepthLimit


def _depth(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> int:
    if selection_set is None:
        return 0
    deepest = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value.startswith("__"):
                continue
            deepest = max(deepest, 1 + _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in fragments and name not in seen:  # cycles are another rule's error
                fragment = fragments[name]
                deepest = max(deepest, _depth(fragment.selection_set, fragments, seen | {name}))
    return deepest


def cost_limit(maximum: int, variables: dict[str, Any] | None) -> type[ASTValidationRule]:
    """Ariadne's cost validation (``GRAPHQL_MAX_COST``); it reads the request's variables."""
    return cost_validator(maximum_cost=maximum, default_cost=1, cost_map=COST_MAP, variables=variables)
